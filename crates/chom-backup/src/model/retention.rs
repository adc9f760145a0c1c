//! Which backups retention keeps: every completed backup younger than the plan's days, and
//! beyond them the newest backup of each of the most recent `daily` days, `weekly` ISO weeks
//! and `monthly` months that have one (restic's `--keep-within`, `--keep-daily`,
//! `--keep-weekly`, `--keep-monthly`, computed here on the records so the records and the
//! repository agree). Days are UTC days.

use chom_kernel::BackupId;
use std::collections::BTreeSet;
use time::OffsetDateTime;

/// A plan's retention.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// Everything younger than this many days is kept.
    pub days: i64,
    /// Newest of each of this many most recent days with a backup.
    pub daily: usize,
    /// Newest of each of this many most recent ISO weeks with a backup.
    pub weekly: usize,
    /// Newest of each of this many most recent months with a backup.
    pub monthly: usize,
}

/// The backups of one site kept at `now`, out of `backups` (`(id, created_at)`, any order).
#[must_use]
pub fn kept(
    backups: &[(BackupId, OffsetDateTime)],
    now: OffsetDateTime,
    policy: Policy,
) -> BTreeSet<BackupId> {
    let mut newest_first: Vec<(BackupId, OffsetDateTime)> = backups.to_vec();
    newest_first.sort_by(|a, b| b.1.cmp(&a.1).then(b.0.cmp(&a.0)));
    let within = now - time::Duration::days(policy.days);
    let mut keep: BTreeSet<BackupId> = newest_first
        .iter()
        .filter(|(_, at)| *at > within)
        .map(|(id, _)| *id)
        .collect();
    let mut bucketed = |count: usize, bucket: &dyn Fn(OffsetDateTime) -> (i32, i32)| {
        let mut seen = Vec::new();
        for (id, at) in &newest_first {
            let b = bucket(*at);
            if seen.contains(&b) {
                continue;
            }
            if seen.len() == count {
                break;
            }
            seen.push(b);
            keep.insert(*id);
        }
    };
    bucketed(policy.daily, &|at| (at.year(), i32::from(at.ordinal())));
    bucketed(policy.weekly, &|at| {
        let (y, w, _) = at.to_iso_week_date();
        (y, i32::from(w))
    });
    bucketed(policy.monthly, &|at| {
        (at.year(), i32::from(u8::from(at.month())))
    });
    keep
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    /// 120 days of one backup a day at 03:00, the newest on 30 April 2026.
    fn daily() -> Vec<(BackupId, OffsetDateTime)> {
        let last = datetime!(2026-04-30 3:00 UTC);
        (0..120)
            .map(|d| (BackupId::new(), last - time::Duration::days(d)))
            .collect()
    }

    fn dates(all: &[(BackupId, OffsetDateTime)], keep: &BTreeSet<BackupId>) -> Vec<time::Date> {
        let mut d: Vec<_> = all
            .iter()
            .filter(|(id, _)| keep.contains(id))
            .map(|(_, at)| at.date())
            .collect();
        d.sort();
        d
    }

    #[test]
    fn a_hundred_and_twenty_days_are_pruned_exactly_as_each_plan_says() {
        let all = daily();
        let now = datetime!(2026-04-30 12:00 UTC);
        // Starter: 7 days, 7 daily: the last 7 days.
        let starter = kept(
            &all,
            now,
            Policy {
                days: 7,
                daily: 7,
                weekly: 0,
                monthly: 0,
            },
        );
        assert_eq!(
            dates(&all, &starter),
            (24..=30)
                .map(|d| time::Date::from_calendar_date(2026, time::Month::April, d).unwrap())
                .collect::<Vec<_>>()
        );
        // Pro: 30 days, 14 daily, 4 weekly, 3 monthly: the last 30 days (1 to 30 April), the
        // Sundays ending the 4 most recent ISO weeks are inside them already, and the last
        // backup of March, February and... the 3 most recent months are April (inside), March
        // (31 March) and February (28 February).
        let pro = kept(
            &all,
            now,
            Policy {
                days: 30,
                daily: 14,
                weekly: 4,
                monthly: 3,
            },
        );
        let got = dates(&all, &pro);
        assert_eq!(got.len(), 32, "{got:?}");
        assert_eq!(
            got[0],
            time::Date::from_calendar_date(2026, time::Month::February, 28).unwrap()
        );
        assert_eq!(
            got[1],
            time::Date::from_calendar_date(2026, time::Month::March, 31).unwrap()
        );
        assert_eq!(
            got[2],
            time::Date::from_calendar_date(2026, time::Month::April, 1).unwrap()
        );
        // Enterprise: 90 days, 30 daily, 12 weekly, 12 monthly: 90 days (31 January excluded:
        // 89 days before 30 April is 31 January at 03:00 > 30 April 12:00 minus 90 days), the
        // Sundays of the weeks before, and the ends of the months before.
        let ent = kept(
            &all,
            now,
            Policy {
                days: 90,
                daily: 30,
                weekly: 12,
                monthly: 12,
            },
        );
        let got = dates(&all, &ent);
        let oldest_within = now - time::Duration::days(90);
        assert!(
            all.iter()
                .filter(|(_, at)| *at > oldest_within)
                .all(|(id, _)| ent.contains(id)),
            "nothing unexpired is removed"
        );
        // The 120 backups start on 1 January: the end of December is not there; January's
        // newest (31 January) is kept as the month's.
        assert!(
            got.contains(&time::Date::from_calendar_date(2026, time::Month::January, 31).unwrap())
        );
        assert_eq!(got.len(), 90, "{got:?}");
        // Nothing to keep beyond the days when the counts are zero.
        let none = kept(
            &all,
            now,
            Policy {
                days: 1,
                daily: 0,
                weekly: 0,
                monthly: 0,
            },
        );
        assert_eq!(
            dates(&all, &none),
            [time::Date::from_calendar_date(2026, time::Month::April, 30).unwrap()]
        );
    }

    #[test]
    fn backups_that_stopped_long_ago_keep_their_newest_days() {
        // The site stopped being backed up 200 days ago: the days rule alone would drop all.
        let last = datetime!(2025-10-01 3:00 UTC);
        let all: Vec<_> = (0..20)
            .map(|d| (BackupId::new(), last - time::Duration::days(d)))
            .collect();
        let keep = kept(
            &all,
            datetime!(2026-04-30 12:00 UTC),
            Policy {
                days: 7,
                daily: 7,
                weekly: 0,
                monthly: 0,
            },
        );
        assert_eq!(keep.len(), 7, "the 7 newest days are kept");
    }
}
