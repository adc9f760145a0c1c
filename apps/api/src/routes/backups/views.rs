//! What the backup area reads and answers.

use chom_backup::{BackupSchedule, ScheduleInput};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;

/// A site's backup schedule, as sent. Every field is read leniently so that every invalid one
/// is reported at once (422 `VALIDATION_FAILED` with `errors`).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"frequency": "weekly", "hour": 2, "weekday": "saturday", "time_zone": "Europe/Paris", "enabled": true}))]
pub struct BackupScheduleRequest {
    /// `daily` or `weekly`.
    #[schema(required = true, nullable = false, example = "weekly")]
    pub frequency: Option<String>,
    /// Hour of the day in `time_zone`, 0 to 23.
    #[schema(
        required = true,
        nullable = false,
        minimum = 0,
        maximum = 23,
        example = 2
    )]
    pub hour: Option<i64>,
    /// `monday` to `sunday`: required for a weekly schedule, refused for a daily one.
    #[schema(nullable = false, example = "saturday")]
    pub weekday: Option<String>,
    /// An IANA time zone name (`Europe/Paris`) or `UTC` (the default).
    #[schema(nullable = false, example = "Europe/Paris")]
    pub time_zone: Option<String>,
    /// Whether backups run on this schedule.
    #[schema(required = true, nullable = false, example = true)]
    pub enabled: Option<bool>,
}

impl From<BackupScheduleRequest> for ScheduleInput {
    fn from(r: BackupScheduleRequest) -> Self {
        Self {
            frequency: r.frequency,
            hour: r.hour,
            weekday: r.weekday,
            time_zone: r.time_zone,
            enabled: r.enabled,
        }
    }
}

/// A site's backup schedule.
#[derive(Debug, Serialize, ToSchema)]
pub struct BackupScheduleView {
    /// The site.
    pub site_id: String,
    /// `daily` or `weekly`.
    pub frequency: String,
    /// Hour of the day in `time_zone`, 0 to 23.
    pub hour: u8,
    /// The day of a weekly schedule; null for a daily one.
    pub weekday: Option<String>,
    /// IANA time zone name, or `UTC`.
    pub time_zone: String,
    /// Whether backups run on this schedule.
    pub enabled: bool,
    /// When it was last saved; null while the site has the default (daily at 03:00 UTC,
    /// disabled).
    #[serde(with = "time::serde::rfc3339::option")]
    pub updated_at: Option<OffsetDateTime>,
}

impl From<&BackupSchedule> for BackupScheduleView {
    fn from(s: &BackupSchedule) -> Self {
        Self {
            site_id: s.site_id.to_string(),
            frequency: s.frequency.as_str().to_owned(),
            hour: s.hour,
            weekday: s.weekday.map(|d| d.as_str().to_owned()),
            time_zone: s.time_zone.clone(),
            enabled: s.enabled,
            updated_at: s.updated_at,
        }
    }
}

/// Envelope.
#[derive(Debug, Serialize, ToSchema)]
pub struct BackupScheduleResponse {
    /// Payload.
    pub data: BackupScheduleView,
}
