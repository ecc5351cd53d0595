//! The next time of a schedule after fixed instants, in fixed time zones: cron fields, seconds,
//! days of the week, both daylight saving time changes, `every`, and expressions refused.

use std::str::FromStr;

use super::*;

/// Central European time with its rules (no time zone database needed): CET (UTC+1), and CEST
/// (UTC+2) from the last Sunday of March 02:00 to the last Sunday of October 03:00. In 2026 the
/// clocks go forward on March 29 and back on October 25.
fn paris() -> TimeZone {
    TimeZone::posix("CET-1CEST,M3.5.0,M10.5.0/3").expect("a valid POSIX time zone")
}

/// An instant, written in UTC.
fn utc(year: i16, month: i8, day: i8, hour: i8, minute: i8, second: i8) -> SystemTime {
    let zoned = jiff::civil::date(year, month, day)
        .at(hour, minute, second, 0)
        .to_zoned(TimeZone::UTC)
        .expect("a valid time");
    SystemTime::from(zoned.timestamp())
}

fn cron(expression: &str) -> ScheduleSpec {
    ScheduleSpec {
        when: ScheduleWhen::Cron {
            expression: expression.to_string(),
            cron: Box::new(croner::Cron::from_str(expression).expect("a valid expression")),
        },
        action: ScheduleAction::Start,
    }
}

fn every(period: Duration) -> ScheduleSpec {
    ScheduleSpec {
        when: ScheduleWhen::Every(period),
        action: ScheduleAction::Start,
    }
}

/// The next `count` times after `after`, each found from the one before.
fn times(
    schedule: &ScheduleSpec,
    after: SystemTime,
    zone: &TimeZone,
    count: usize,
) -> Vec<SystemTime> {
    let mut found = Vec::new();
    let mut at = after;
    for _ in 0..count {
        let Some(next) = schedule.next_after(at, zone) else {
            break;
        };
        found.push(next);
        at = next;
    }
    found
}

#[test]
fn a_cron_time_is_the_next_match_strictly_after_the_instant() {
    let every_five_minutes = cron("*/5 * * * *");
    let zone = TimeZone::UTC;
    assert_eq!(
        every_five_minutes.next_after(utc(2026, 12, 8, 2, 3, 10), &zone),
        Some(utc(2026, 12, 8, 2, 5, 0))
    );
    // Strictly after: a time exactly on a match gets the following one.
    assert_eq!(
        every_five_minutes.next_after(utc(2026, 12, 8, 2, 5, 0), &zone),
        Some(utc(2026, 12, 8, 2, 10, 0))
    );
    // Across midnight, the month and the year.
    assert_eq!(
        every_five_minutes.next_after(utc(2026, 12, 31, 23, 59, 30), &zone),
        Some(utc(2027, 1, 1, 0, 0, 0))
    );
}

#[test]
fn a_cron_expression_is_read_in_the_zone_it_is_given() {
    // 02:30 every day: 01:30 UTC in winter in Paris, 00:30 UTC in summer, 02:30 UTC in UTC.
    let nightly = cron("30 2 * * *");
    assert_eq!(
        nightly.next_after(utc(2026, 12, 8, 0, 0, 0), &paris()),
        Some(utc(2026, 12, 8, 1, 30, 0))
    );
    assert_eq!(
        nightly.next_after(utc(2026, 7, 1, 0, 0, 0), &paris()),
        Some(utc(2026, 7, 1, 0, 30, 0))
    );
    assert_eq!(
        nightly.next_after(utc(2026, 7, 1, 0, 0, 0), &TimeZone::UTC),
        Some(utc(2026, 7, 1, 2, 30, 0))
    );
}

#[test]
fn days_of_the_week_months_and_nicknames_count() {
    let zone = TimeZone::UTC;
    // 2026-12-12 is a Saturday: the next weekday 03:00 is Monday the 14th.
    assert_eq!(
        cron("0 3 * * MON-FRI").next_after(utc(2026, 12, 12, 12, 0, 0), &zone),
        Some(utc(2026, 12, 14, 3, 0, 0))
    );
    assert_eq!(
        cron("@monthly").next_after(utc(2026, 12, 8, 12, 0, 0), &zone),
        Some(utc(2027, 1, 1, 0, 0, 0))
    );
    assert_eq!(
        cron("0 0 1 JUN *").next_after(utc(2026, 12, 8, 12, 0, 0), &zone),
        Some(utc(2027, 6, 1, 0, 0, 0))
    );
    // More than a year away: the next February 29th.
    assert_eq!(
        cron("0 0 29 2 *").next_after(utc(2026, 12, 8, 12, 0, 0), &zone),
        Some(utc(2028, 2, 29, 0, 0, 0))
    );
}

#[test]
fn a_sixth_field_in_front_is_seconds() {
    let every_five_seconds = cron("*/5 * * * * *");
    assert_eq!(
        times(&every_five_seconds, utc(2026, 12, 8, 2, 0, 3), &paris(), 3),
        [
            utc(2026, 12, 8, 2, 0, 5),
            utc(2026, 12, 8, 2, 0, 10),
            utc(2026, 12, 8, 2, 0, 15)
        ]
    );
}

#[test]
fn a_time_in_the_hour_skipped_in_spring_runs_at_the_end_of_the_gap() {
    // On 2026-03-29 Paris goes from 01:59:59 CET (00:59:59 UTC) to 03:00 CEST (01:00 UTC):
    // 02:30 does not exist that night, and the job runs when the gap ends.
    let nightly = cron("30 2 * * *");
    assert_eq!(
        times(&nightly, utc(2026, 3, 28, 23, 0, 0), &paris(), 2),
        [utc(2026, 3, 29, 1, 0, 0), utc(2026, 3, 30, 0, 30, 0)]
    );
}

#[test]
fn interval_times_inside_the_spring_gap_do_not_exist() {
    // Every quarter of an hour: 01:45 CET, then 03:00 CEST (02:00 to 02:45 never happen).
    let quarterly = cron("*/15 * * * *");
    assert_eq!(
        times(&quarterly, utc(2026, 3, 29, 0, 40, 0), &paris(), 3),
        [
            utc(2026, 3, 29, 0, 45, 0),
            utc(2026, 3, 29, 1, 0, 0),
            utc(2026, 3, 29, 1, 15, 0)
        ]
    );
}

#[test]
fn a_fixed_time_in_the_hour_repeated_in_autumn_runs_once() {
    // On 2026-10-25 Paris goes from 02:59:59 CEST (00:59:59 UTC) back to 02:00 CET (01:00
    // UTC): 02:30 happens at 00:30 UTC and again at 01:30 UTC. The job runs at the first.
    let nightly = cron("30 2 * * *");
    assert_eq!(
        times(&nightly, utc(2026, 10, 24, 23, 0, 0), &paris(), 2),
        [utc(2026, 10, 25, 0, 30, 0), utc(2026, 10, 26, 1, 30, 0)]
    );
}

#[test]
fn interval_times_in_the_hour_repeated_in_autumn_run_in_both_passes() {
    let half_hourly = cron("*/30 * * * *");
    assert_eq!(
        times(&half_hourly, utc(2026, 10, 24, 23, 50, 0), &paris(), 5),
        [
            utc(2026, 10, 25, 0, 0, 0),  // 02:00 CEST
            utc(2026, 10, 25, 0, 30, 0), // 02:30 CEST
            utc(2026, 10, 25, 1, 0, 0),  // 02:00 CET
            utc(2026, 10, 25, 1, 30, 0), // 02:30 CET
            utc(2026, 10, 25, 2, 0, 0),  // 03:00 CET
        ]
    );
}

#[test]
fn every_runs_at_the_multiples_of_its_period_whatever_the_zone_does() {
    let ten_minutes = every(Duration::from_secs(600));
    // Across the autumn change, in real time: 10 minutes apart, 02:00 CEST to 02:00 CET included.
    assert_eq!(
        times(&ten_minutes, utc(2026, 10, 25, 0, 45, 10), &paris(), 3),
        [
            utc(2026, 10, 25, 0, 50, 0),
            utc(2026, 10, 25, 1, 0, 0),
            utc(2026, 10, 25, 1, 10, 0)
        ]
    );
    // Strictly after.
    assert_eq!(
        ten_minutes.next_after(utc(2026, 10, 25, 1, 0, 0), &paris()),
        Some(utc(2026, 10, 25, 1, 10, 0))
    );
    // Sub-second instants round up to the next multiple.
    let second = every(Duration::from_secs(1));
    let at = utc(2026, 12, 8, 2, 0, 0) + Duration::from_millis(999);
    assert_eq!(
        second.next_after(at, &TimeZone::UTC),
        Some(utc(2026, 12, 8, 2, 0, 1))
    );
    assert!(second.waits());
}

#[test]
fn a_schedule_without_a_time_left_has_no_next_time() {
    // Seven fields: seconds first, the year last; 2020 is over.
    let past = cron("0 0 0 1 1 * 2020");
    assert_eq!(
        past.next_after(utc(2026, 12, 8, 0, 0, 0), &TimeZone::UTC),
        None
    );
    // February 30th never comes.
    let never = cron("0 0 30 2 *");
    assert_eq!(
        never.next_after(utc(2026, 12, 8, 0, 0, 0), &TimeZone::UTC),
        None
    );
    assert_eq!(
        every(Duration::ZERO).next_after(utc(2026, 1, 1, 0, 0, 0), &TimeZone::UTC),
        None
    );
}

#[test]
fn bad_expressions_are_refused_in_words() {
    let now = utc(2026, 12, 8, 0, 0, 0);
    assert_eq!(parse_cron("", now).unwrap_err(), "the expression is empty");
    for bad in [
        "61 * * * *",
        "* * *",
        "* * * * * * * *",
        "0 25 * * *",
        "every 5 minutes",
    ] {
        let why = parse_cron(bad, now).expect_err(bad);
        assert!(!why.is_empty() && !why.ends_with('.'), "{bad}: {why}");
    }
    // Valid, but no time ever matches: the job would never run.
    assert_eq!(
        parse_cron("0 0 30 2 *", now).unwrap_err(),
        "no time matches it"
    );
    assert_eq!(
        parse_cron("0 0 0 1 1 * 2020", now).unwrap_err(),
        "no time matches it"
    );
    assert!(parse_cron("@hourly", now).is_ok());
    assert!(parse_cron("0 3 * * MON-FRI", now).is_ok());
}

#[test]
fn the_schedule_is_described_as_written() {
    assert_eq!(cron("*/5 * * * *").describe(), "*/5 * * * * (local time)");
    assert_eq!(every(Duration::from_secs(600)).describe(), "every 10m");
    assert_eq!(ScheduleAction::Restart.as_str(), "restart");
}
