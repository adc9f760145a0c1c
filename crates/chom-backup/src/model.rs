//! Backups (`backup`) and schedules: what a site's schedule says, and the rules a new one must
//! follow.

use chom_kernel::SiteId;
use time::OffsetDateTime;

mod backup;
pub mod retention;
pub mod timing;

pub use backup::{
    Backup, BackupFilter, BackupStatus, Contents, Trigger, Verification, VerificationStatus,
};

chom_kernel::str_enum! {
    /// How often a site is backed up.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
    #[serde(rename_all = "snake_case")]
    pub enum Frequency: "frequency" {
        /// Every day at `hour`.
        Daily = "daily",
        /// Once a week, on `weekday` at `hour`.
        Weekly = "weekly",
    }
}

chom_kernel::str_enum! {
    /// The day of a weekly backup.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
    #[serde(rename_all = "snake_case")]
    pub enum Weekday: "weekday" {
        /// Monday.
        Monday = "monday",
        /// Tuesday.
        Tuesday = "tuesday",
        /// Wednesday.
        Wednesday = "wednesday",
        /// Thursday.
        Thursday = "thursday",
        /// Friday.
        Friday = "friday",
        /// Saturday.
        Saturday = "saturday",
        /// Sunday.
        Sunday = "sunday",
    }
}

/// A site's backup schedule. Only [`ScheduleInput::validate`] (and the adapters, reading what
/// it produced) build one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupSchedule {
    /// The site.
    pub site_id: SiteId,
    /// Daily or weekly.
    pub frequency: Frequency,
    /// Hour of the day, 0 to 23, in `time_zone`.
    pub hour: u8,
    /// The day of a weekly schedule; `None` for a daily one.
    pub weekday: Option<Weekday>,
    /// An IANA time zone name (`Europe/Paris`) or `UTC`.
    pub time_zone: String,
    /// Whether backups run on this schedule.
    pub enabled: bool,
    /// When it was last saved; `None` for the default of a site that never saved one.
    pub updated_at: Option<OffsetDateTime>,
}

impl BackupSchedule {
    /// What a site without a saved schedule answers: daily at 03:00 UTC, disabled.
    #[must_use]
    pub fn default_for(site_id: SiteId) -> Self {
        Self {
            site_id,
            frequency: Frequency::Daily,
            hour: 3,
            weekday: None,
            time_zone: "UTC".to_owned(),
            enabled: false,
            updated_at: None,
        }
    }
}

/// An invalid field: (field, stable code, message).
pub type FieldError = (&'static str, &'static str, String);

/// A schedule as a client sends it, before validation (the HTTP layer deserializes leniently so
/// that every invalid field is reported at once).
#[derive(Debug, Clone, Default)]
pub struct ScheduleInput {
    /// `daily` or `weekly`.
    pub frequency: Option<String>,
    /// 0 to 23.
    pub hour: Option<i64>,
    /// `monday`…`sunday`, weekly schedules only.
    pub weekday: Option<String>,
    /// IANA name; `UTC` when absent.
    pub time_zone: Option<String>,
    /// Required.
    pub enabled: Option<bool>,
}

/// Longest accepted time zone name (the tz database's longest is 32 characters).
const MAX_ZONE_LEN: usize = 64;

/// Whether `zone` is spelled like an IANA time zone name: `UTC`, or `Area/Location[/More]` with
/// ASCII letters, digits, `_`, `-` and `+` (`America/Argentina/Buenos_Aires`, `Etc/GMT+3`).
/// Whether the tz database knows it is checked by the backup runner (planned), not here.
#[must_use]
pub fn zone_name_is_valid(zone: &str) -> bool {
    if zone == "UTC" {
        return true;
    }
    let parts: Vec<&str> = zone.split('/').collect();
    zone.len() <= MAX_ZONE_LEN
        && parts.len() >= 2
        && parts.iter().all(|p| {
            p.chars().next().is_some_and(|c| c.is_ascii_uppercase())
                && p.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '+'))
        })
}

impl ScheduleInput {
    /// The schedule for `site_id`, or every invalid field.
    ///
    /// # Errors
    /// The invalid fields, each with a stable code.
    pub fn validate(
        self,
        site_id: SiteId,
        now: OffsetDateTime,
    ) -> Result<BackupSchedule, Vec<FieldError>> {
        let mut errors = Vec::new();
        let frequency = match self.frequency.as_deref() {
            None => {
                errors.push(("frequency", "REQUIRED", "frequency is required".to_owned()));
                None
            }
            Some(f) => Frequency::parse(f)
                .map_err(|_| {
                    errors.push((
                        "frequency",
                        "INVALID_VALUE",
                        "frequency must be daily or weekly".to_owned(),
                    ));
                })
                .ok(),
        };
        let hour = match self.hour {
            None => {
                errors.push(("hour", "REQUIRED", "hour is required".to_owned()));
                None
            }
            Some(h) => u8::try_from(h).ok().filter(|h| *h < 24).or_else(|| {
                errors.push((
                    "hour",
                    "INVALID_VALUE",
                    "hour must be between 0 and 23".to_owned(),
                ));
                None
            }),
        };
        let weekday = match (frequency, self.weekday.as_deref()) {
            (Some(Frequency::Weekly), None) => {
                errors.push((
                    "weekday",
                    "REQUIRED",
                    "a weekly schedule names its weekday".to_owned(),
                ));
                None
            }
            (Some(Frequency::Daily), Some(_)) => {
                errors.push((
                    "weekday",
                    "NOT_ALLOWED",
                    "a daily schedule has no weekday".to_owned(),
                ));
                None
            }
            (_, Some(d)) => Weekday::parse(d)
                .map_err(|_| {
                    errors.push((
                        "weekday",
                        "INVALID_VALUE",
                        "weekday must be monday to sunday".to_owned(),
                    ));
                })
                .ok(),
            (_, None) => None,
        };
        let time_zone = self.time_zone.unwrap_or_else(|| "UTC".to_owned());
        if !zone_name_is_valid(&time_zone) {
            errors.push((
                "time_zone",
                "INVALID_FORMAT",
                "time_zone must be an IANA time zone name such as Europe/Paris, or UTC".to_owned(),
            ));
        }
        if self.enabled.is_none() {
            errors.push(("enabled", "REQUIRED", "enabled is required".to_owned()));
        }
        match (frequency, hour, self.enabled) {
            (Some(frequency), Some(hour), Some(enabled)) if errors.is_empty() => {
                Ok(BackupSchedule {
                    site_id,
                    frequency,
                    hour,
                    weekday,
                    time_zone,
                    enabled,
                    updated_at: Some(now),
                })
            }
            _ => Err(errors),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(frequency: &str, hour: i64, weekday: Option<&str>) -> ScheduleInput {
        ScheduleInput {
            frequency: Some(frequency.to_owned()),
            hour: Some(hour),
            weekday: weekday.map(str::to_owned),
            time_zone: Some("Europe/Paris".to_owned()),
            enabled: Some(true),
        }
    }

    fn codes(input: ScheduleInput) -> Vec<(&'static str, &'static str)> {
        match input.validate(SiteId::new(), OffsetDateTime::now_utc()) {
            Ok(_) => Vec::new(),
            Err(errors) => errors.into_iter().map(|(f, c, _)| (f, c)).collect(),
        }
    }

    #[test]
    fn a_daily_and_a_weekly_schedule_are_accepted() {
        let site = SiteId::new();
        let now = OffsetDateTime::now_utc();
        let daily = input("daily", 0, None).validate(site, now).unwrap();
        assert_eq!(
            (daily.frequency, daily.hour, daily.weekday),
            (Frequency::Daily, 0, None)
        );
        let weekly = input("weekly", 23, Some("sunday"))
            .validate(site, now)
            .unwrap();
        assert_eq!(weekly.weekday, Some(Weekday::Sunday));
        assert_eq!(weekly.updated_at, Some(now));
    }

    #[test]
    fn every_invalid_field_is_reported_at_once() {
        let all_wrong = ScheduleInput {
            frequency: Some("hourly".into()),
            hour: Some(24),
            weekday: Some("someday".into()),
            time_zone: Some("../../etc/passwd".into()),
            enabled: None,
        };
        assert_eq!(
            codes(all_wrong),
            vec![
                ("frequency", "INVALID_VALUE"),
                ("hour", "INVALID_VALUE"),
                ("weekday", "INVALID_VALUE"),
                ("time_zone", "INVALID_FORMAT"),
                ("enabled", "REQUIRED"),
            ]
        );
        assert_eq!(
            codes(ScheduleInput::default()),
            vec![
                ("frequency", "REQUIRED"),
                ("hour", "REQUIRED"),
                ("enabled", "REQUIRED"),
            ]
        );
    }

    #[test]
    fn the_weekday_belongs_to_weekly_schedules_only() {
        assert_eq!(
            codes(input("weekly", 3, None)),
            vec![("weekday", "REQUIRED")]
        );
        assert_eq!(
            codes(input("daily", 3, Some("monday"))),
            vec![("weekday", "NOT_ALLOWED")]
        );
        assert_eq!(
            codes(input("daily", -1, None)),
            vec![("hour", "INVALID_VALUE")]
        );
    }

    #[test]
    fn time_zone_names_follow_the_iana_spelling() {
        for good in [
            "UTC",
            "Europe/Paris",
            "America/Argentina/Buenos_Aires",
            "Etc/GMT+3",
        ] {
            assert!(zone_name_is_valid(good), "{good}");
        }
        for bad in [
            "",
            "utc",
            "Paris",
            "Europe/",
            "/Paris",
            "Europe/Par is",
            "europe/paris",
        ] {
            assert!(!zone_name_is_valid(bad), "{bad:?}");
        }
        assert!(!zone_name_is_valid(&format!("Europe/{}", "A".repeat(64))));
    }
}
