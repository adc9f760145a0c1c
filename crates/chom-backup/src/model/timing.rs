//! When a schedule's backups are due: its occurrences in its own time zone (the tz database:
//! daylight-saving changes move the UTC instant, never the local hour), each spread over the
//! hour after it by a per-site offset so a fleet's sites do not all start at once.

use super::{BackupSchedule, Frequency, Weekday};
use chom_kernel::SiteId;
use time::OffsetDateTime;

/// Why a schedule has no occurrence.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown time zone {0:?}")]
pub struct UnknownZone(pub String);

fn zone(name: &str) -> Result<jiff::tz::TimeZone, UnknownZone> {
    if name == "UTC" {
        return Ok(jiff::tz::TimeZone::UTC);
    }
    jiff::tz::TimeZone::get(name).map_err(|_| UnknownZone(name.to_owned()))
}

fn weekday(w: Weekday) -> jiff::civil::Weekday {
    use jiff::civil::Weekday as J;
    match w {
        Weekday::Monday => J::Monday,
        Weekday::Tuesday => J::Tuesday,
        Weekday::Wednesday => J::Wednesday,
        Weekday::Thursday => J::Thursday,
        Weekday::Friday => J::Friday,
        Weekday::Saturday => J::Saturday,
        Weekday::Sunday => J::Sunday,
    }
}

/// The latest occurrence of `schedule` at or before `now`.
///
/// # Errors
/// The schedule's time zone is not in the tz database.
pub fn last_occurrence(
    schedule: &BackupSchedule,
    now: OffsetDateTime,
) -> Result<Option<OffsetDateTime>, UnknownZone> {
    let tz = zone(&schedule.time_zone)?;
    let Ok(stamp) = jiff::Timestamp::from_second(now.unix_timestamp()) else {
        return Ok(None);
    };
    let today = stamp.to_zoned(tz.clone()).date();
    // Up to 8 days back covers a weekly schedule whatever today is.
    for back in 0..8 {
        let Ok(date) = today.checked_sub(jiff::Span::new().days(back)) else {
            return Ok(None);
        };
        if let (Frequency::Weekly, Some(w)) = (schedule.frequency, schedule.weekday)
            && date.weekday() != weekday(w)
        {
            continue;
        }
        let Ok(at) = date
            .at(i8::try_from(schedule.hour).unwrap_or(0), 0, 0, 0)
            .to_zoned(tz.clone())
        else {
            continue;
        };
        let seconds = at.timestamp().as_second();
        if seconds <= now.unix_timestamp() {
            return Ok(OffsetDateTime::from_unix_timestamp(seconds).ok());
        }
    }
    Ok(None)
}

/// The site's start offset within the hour after an occurrence, stable for the site.
#[must_use]
pub fn spread(site: SiteId) -> time::Duration {
    let h = site
        .to_string()
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        });
    time::Duration::seconds(i64::try_from(h % 3600).unwrap_or(0))
}

/// The occurrence a backup is due for at `now`, if one is: the schedule is enabled, its
/// latest occurrence came after it was saved, the site's offset within the hour has passed,
/// and no scheduled backup was made since that occurrence (`last`).
///
/// # Errors
/// The schedule's time zone is not in the tz database.
pub fn due(
    schedule: &BackupSchedule,
    now: OffsetDateTime,
    last: Option<OffsetDateTime>,
) -> Result<Option<OffsetDateTime>, UnknownZone> {
    if !schedule.enabled {
        return Ok(None);
    }
    let Some(occurrence) = last_occurrence(schedule, now)? else {
        return Ok(None);
    };
    let after_save = schedule.updated_at.is_none_or(|saved| occurrence >= saved);
    let started = now >= occurrence + spread(schedule.site_id);
    let done = last.is_some_and(|l| l >= occurrence);
    Ok((after_save && started && !done).then_some(occurrence))
}

/// How long after its start (the occurrence plus the site's offset) a scheduled backup may take
/// to complete before the site counts as overdue.
pub const GRACE: time::Duration = time::Duration::hours(3);

/// The occurrence a site has no backup for although it should by `now`: the newest occurrence
/// whose deadline (the site's offset plus [`GRACE`] after it) has passed, when it came after
/// the schedule was saved and no backup completed since it (`last_completed`: when the
/// newest completed backup, scheduled or not, was asked for).
///
/// # Errors
/// The schedule's time zone is not in the tz database.
pub fn overdue(
    schedule: &BackupSchedule,
    now: OffsetDateTime,
    last_completed: Option<OffsetDateTime>,
) -> Result<Option<OffsetDateTime>, UnknownZone> {
    if !schedule.enabled {
        return Ok(None);
    }
    let Some(occurrence) = last_occurrence(schedule, now - spread(schedule.site_id) - GRACE)?
    else {
        return Ok(None);
    };
    let after_save = schedule.updated_at.is_none_or(|saved| occurrence >= saved);
    let covered = last_completed.is_some_and(|l| l >= occurrence);
    Ok((after_save && !covered).then_some(occurrence))
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn schedule(
        frequency: Frequency,
        hour: u8,
        weekday: Option<Weekday>,
        zone: &str,
    ) -> BackupSchedule {
        BackupSchedule {
            site_id: SiteId::new(),
            frequency,
            hour,
            weekday,
            time_zone: zone.into(),
            enabled: true,
            updated_at: Some(datetime!(2026-01-01 0:00 UTC)),
        }
    }

    #[test]
    fn occurrences_follow_the_local_hour_through_daylight_saving() {
        let paris = schedule(Frequency::Daily, 3, None, "Europe/Paris");
        // Winter: 03:00 in Paris is 02:00 UTC; summer: 01:00 UTC.
        assert_eq!(
            last_occurrence(&paris, datetime!(2026-01-15 12:00 UTC)).unwrap(),
            Some(datetime!(2026-01-15 2:00 UTC))
        );
        assert_eq!(
            last_occurrence(&paris, datetime!(2026-07-15 12:00 UTC)).unwrap(),
            Some(datetime!(2026-07-15 1:00 UTC))
        );
        // Before today's occurrence: yesterday's.
        assert_eq!(
            last_occurrence(&paris, datetime!(2026-07-15 0:30 UTC)).unwrap(),
            Some(datetime!(2026-07-14 1:00 UTC))
        );
        // 02:30 does not exist in Paris on 29 March 2026: the hour after the gap.
        let gap = schedule(Frequency::Daily, 2, None, "Europe/Paris");
        assert_eq!(
            last_occurrence(&gap, datetime!(2026-03-29 12:00 UTC)).unwrap(),
            Some(datetime!(2026-03-29 1:00 UTC))
        );
        let weekly = schedule(Frequency::Weekly, 23, Some(Weekday::Saturday), "UTC");
        // Wednesday 15 July 2026: the Saturday before, 11 July.
        assert_eq!(
            last_occurrence(&weekly, datetime!(2026-07-15 12:00 UTC)).unwrap(),
            Some(datetime!(2026-07-11 23:00 UTC))
        );
        assert_eq!(
            last_occurrence(
                &schedule(Frequency::Daily, 3, None, "Mars/Olympus_Mons"),
                datetime!(2026-07-15 12:00 UTC)
            ),
            Err(UnknownZone("Mars/Olympus_Mons".into()))
        );
    }

    #[test]
    fn a_backup_is_due_once_per_occurrence_after_the_sites_offset() {
        let s = schedule(Frequency::Daily, 3, None, "UTC");
        let occurrence = datetime!(2026-07-15 3:00 UTC);
        let start = occurrence + spread(s.site_id);
        assert_eq!(
            due(&s, start - time::Duration::seconds(1), None).unwrap(),
            None,
            "before the site's offset"
        );
        assert_eq!(due(&s, start, None).unwrap(), Some(occurrence));
        assert_eq!(
            due(&s, start, Some(occurrence - time::Duration::days(1))).unwrap(),
            Some(occurrence)
        );
        assert_eq!(
            due(&s, start, Some(occurrence + time::Duration::minutes(5))).unwrap(),
            None,
            "made already"
        );
        let mut off = s.clone();
        off.enabled = false;
        assert_eq!(due(&off, start, None).unwrap(), None);
        let mut fresh = s.clone();
        fresh.updated_at = Some(occurrence + time::Duration::minutes(1));
        assert_eq!(
            due(&fresh, start + time::Duration::hours(2), None).unwrap(),
            None,
            "saved after today's occurrence"
        );
        assert!(spread(s.site_id) < time::Duration::hours(1));
    }

    #[test]
    fn a_site_is_overdue_when_no_backup_completed_by_its_deadline() {
        let s = schedule(Frequency::Daily, 3, None, "UTC");
        let occurrence = datetime!(2026-07-15 3:00 UTC);
        let deadline = occurrence + spread(s.site_id) + GRACE;
        let yesterday = occurrence - time::Duration::days(1);
        let cases = [
            // (now, newest completed backup asked for at, overdue for)
            (deadline - time::Duration::seconds(1), Some(yesterday), None),
            (deadline - time::Duration::seconds(1), None, Some(yesterday)),
            (deadline, Some(yesterday), Some(occurrence)),
            (deadline, None, Some(occurrence)),
            (
                deadline,
                Some(occurrence + time::Duration::minutes(20)),
                None,
            ),
            (deadline + time::Duration::hours(20), Some(occurrence), None),
            (
                deadline + time::Duration::days(1),
                Some(occurrence),
                Some(occurrence + time::Duration::days(1)),
            ),
        ];
        for (now, last, expected) in cases {
            assert_eq!(overdue(&s, now, last).unwrap(), expected, "{now} {last:?}");
        }
        let mut off = s.clone();
        off.enabled = false;
        assert_eq!(overdue(&off, deadline, None).unwrap(), None, "disabled");
        let mut fresh = s.clone();
        fresh.updated_at = Some(occurrence + time::Duration::minutes(1));
        assert_eq!(
            overdue(&fresh, deadline, None).unwrap(),
            None,
            "saved after the occurrence"
        );
        let weekly = schedule(Frequency::Weekly, 23, Some(Weekday::Saturday), "UTC");
        // Saturday 11 July 23:00; a backup on the Sunday covers the whole week after.
        let saturday = datetime!(2026-07-11 23:00 UTC);
        assert_eq!(
            overdue(&weekly, datetime!(2026-07-17 12:00 UTC), Some(saturday)).unwrap(),
            None
        );
        assert_eq!(
            overdue(
                &weekly,
                datetime!(2026-07-17 12:00 UTC),
                Some(saturday - time::Duration::days(1))
            )
            .unwrap(),
            Some(saturday)
        );
    }
}
