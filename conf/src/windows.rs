//! Active-time windows (`active: DAYS;HH:MM-HH:MM,...`): parsing, and the
//! pure question "is this minute of this weekday inside?". The observer asks
//! it with its local time; nothing here reads a clock.

use std::fmt;

/// Minutes in a day; a window's ends are minutes `0..MINUTES_PER_DAY`.
const MINUTES_PER_DAY: u16 = 24 * 60;

/// One `DAYS;HH:MM-HH:MM`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ActiveWindow {
    /// Bit 0 = Sunday … bit 6 = Saturday: the days on which the range starts.
    pub days: u8,
    /// Minute of the day the range starts, inclusive.
    pub start: u16,
    /// Minute of the day the range ends, inclusive. Below `start` means the
    /// range runs past midnight into the next day.
    pub end: u16,
}

impl ActiveWindow {
    fn starts_on(&self, weekday: u32) -> bool {
        weekday < 7 && self.days & (1 << weekday) != 0
    }

    /// `weekday` 0 = Sunday; `minute` of the day.
    pub fn contains(&self, weekday: u32, minute: u16) -> bool {
        if self.start <= self.end {
            self.starts_on(weekday) && (self.start..=self.end).contains(&minute)
        } else {
            // Past midnight: the evening part belongs to the day it starts on,
            // the morning part to the day after.
            let yesterday = (weekday + 6) % 7;
            (self.starts_on(weekday) && minute >= self.start)
                || (self.starts_on(yesterday) && minute <= self.end)
        }
    }
}

impl fmt::Display for ActiveWindow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for d in 0..7 {
            if self.days & (1 << d) != 0 {
                write!(f, "{d}")?;
            }
        }
        write!(
            f,
            ";{:02}:{:02}-{:02}:{:02}",
            self.start / 60,
            self.start % 60,
            self.end / 60,
            self.end % 60
        )
    }
}

/// The windows of one `active:` line; active when any window is.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ActiveWindows(pub Vec<ActiveWindow>);

impl ActiveWindows {
    /// Parses `DAYS;HH:MM-HH:MM[,DAYS;HH:MM-HH:MM...]`. DAYS are digits 0–7
    /// (0 and 7 = Sunday, 1 = Monday … 6 = Saturday).
    pub fn parse(text: &str) -> Result<ActiveWindows, String> {
        let text = text.trim();
        if text.is_empty() {
            return Err("empty window list; expected DAYS;HH:MM-HH:MM".into());
        }
        let mut windows = Vec::new();
        for part in text.split(',') {
            windows.push(parse_window(part.trim())?);
        }
        Ok(ActiveWindows(windows))
    }

    /// `weekday` 0 = Sunday … 6 = Saturday; `hour` 0–23; `minute` 0–59.
    /// Out-of-range inputs are simply never active.
    pub fn is_active(&self, weekday: u32, hour: u32, minute: u32) -> bool {
        if weekday > 6 || hour > 23 || minute > 59 {
            return false;
        }
        // Bounded above, so the cast cannot truncate.
        let m = (hour * 60 + minute) as u16;
        self.0.iter().any(|w| w.contains(weekday, m))
    }
}

impl fmt::Display for ActiveWindows {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, w) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{w}")?;
        }
        Ok(())
    }
}

fn parse_window(part: &str) -> Result<ActiveWindow, String> {
    let Some((days_text, range)) = part.split_once(';') else {
        return Err(format!("window `{part}`: expected DAYS;HH:MM-HH:MM"));
    };
    let days_text = days_text.trim();
    if days_text.is_empty() {
        return Err(format!(
            "window `{part}`: no days before `;` (0 = Sunday … 6 = Saturday)"
        ));
    }
    let mut days = 0u8;
    for c in days_text.chars() {
        match c.to_digit(10) {
            Some(d @ 0..=7) => days |= 1 << (d % 7),
            _ => {
                return Err(format!(
                    "window `{part}`: day {c:?} is not a digit 0-7 (0 = Sunday … 6 = Saturday, 7 = Sunday)"
                ));
            }
        }
    }
    let Some((start, end)) = range.split_once('-') else {
        return Err(format!("window `{part}`: expected HH:MM-HH:MM after `;`"));
    };
    let start = parse_time(start.trim()).map_err(|e| format!("window `{part}`: {e}"))?;
    let end = parse_time(end.trim()).map_err(|e| format!("window `{part}`: {e}"))?;
    Ok(ActiveWindow { days, start, end })
}

fn parse_time(t: &str) -> Result<u16, String> {
    let bad = || format!("time `{t}` is not HH:MM (00:00 to 23:59)");
    let (h, m) = t.split_once(':').ok_or_else(bad)?;
    let digits = |s: &str, max_len| {
        !s.is_empty() && s.len() <= max_len && s.bytes().all(|b| b.is_ascii_digit())
    };
    if !digits(h, 2) || !digits(m, 2) || m.len() != 2 {
        return Err(bad());
    }
    let h: u16 = h.parse().map_err(|_| bad())?;
    let m: u16 = m.parse().map_err(|_| bad())?;
    if h > 23 || m > 59 {
        return Err(bad());
    }
    let minute = h * 60 + m;
    debug_assert!(minute < MINUTES_PER_DAY);
    Ok(minute)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SUN: u32 = 0;
    const MON: u32 = 1;
    const TUE: u32 = 2;
    const FRI: u32 = 5;
    const SAT: u32 = 6;

    fn w(s: &str) -> ActiveWindows {
        ActiveWindows::parse(s).unwrap()
    }

    #[test]
    fn weekend_daytime_on_every_day_at_edges() {
        let a = w("06;09:00-17:00");
        for day in 0..7 {
            let weekend = day == SUN || day == SAT;
            assert!(!a.is_active(day, 8, 59), "day {day} 08:59");
            assert_eq!(a.is_active(day, 9, 0), weekend, "day {day} 09:00");
            assert_eq!(a.is_active(day, 12, 30), weekend, "day {day} 12:30");
            assert_eq!(a.is_active(day, 17, 0), weekend, "day {day} 17:00");
            assert!(!a.is_active(day, 17, 1), "day {day} 17:01");
            assert!(!a.is_active(day, 0, 0), "day {day} 00:00");
            assert!(!a.is_active(day, 23, 59), "day {day} 23:59");
        }
    }

    #[test]
    fn every_day_plus_monday_late_on_every_day_at_edges() {
        let a = w("0123456;06:00-22:00,1;22:30-23:59");
        for day in 0..7 {
            let monday = day == MON;
            assert!(!a.is_active(day, 5, 59), "day {day} 05:59");
            assert!(a.is_active(day, 6, 0), "day {day} 06:00");
            assert!(a.is_active(day, 22, 0), "day {day} 22:00");
            assert!(!a.is_active(day, 22, 1), "day {day} 22:01");
            assert!(!a.is_active(day, 22, 29), "day {day} 22:29");
            assert_eq!(a.is_active(day, 22, 30), monday, "day {day} 22:30");
            assert_eq!(a.is_active(day, 23, 59), monday, "day {day} 23:59");
            assert!(!a.is_active(day, 0, 0), "day {day} 00:00");
        }
    }

    #[test]
    fn past_midnight_belongs_to_the_starting_day_and_the_next_morning() {
        let a = w("1;22:00-02:00");
        for day in 0..7 {
            assert!(!a.is_active(day, 21, 59), "day {day} 21:59");
            assert_eq!(a.is_active(day, 22, 0), day == MON, "day {day} 22:00");
            assert_eq!(a.is_active(day, 23, 59), day == MON, "day {day} 23:59");
            assert_eq!(a.is_active(day, 0, 0), day == TUE, "day {day} 00:00");
            assert_eq!(a.is_active(day, 2, 0), day == TUE, "day {day} 02:00");
            assert!(!a.is_active(day, 2, 1), "day {day} 02:01");
        }
    }

    #[test]
    fn saturday_night_wraps_into_sunday() {
        let a = w("6;23:00-01:00");
        assert!(a.is_active(SAT, 23, 0));
        assert!(a.is_active(SUN, 0, 30));
        assert!(a.is_active(SUN, 1, 0));
        assert!(!a.is_active(SUN, 23, 30));
        assert!(!a.is_active(FRI, 23, 30));
        assert!(!a.is_active(SAT, 0, 30));
        assert!(!a.is_active(MON, 0, 30));
    }

    #[test]
    fn friday_night_to_saturday_morning() {
        let a = w("5;22:00-06:00");
        assert!(a.is_active(FRI, 22, 0));
        assert!(a.is_active(SAT, 6, 0));
        assert!(!a.is_active(SAT, 6, 1));
        assert!(!a.is_active(FRI, 6, 0));
    }

    #[test]
    fn seven_is_sunday_too() {
        let a = w("7;10:00-11:00");
        assert_eq!(a, w("0;10:00-11:00"));
        assert!(a.is_active(SUN, 10, 0));
        assert!(!a.is_active(SAT, 10, 0));
    }

    #[test]
    fn equal_ends_are_that_single_minute() {
        let a = w("3;12:00-12:00");
        assert!(a.is_active(3, 12, 0));
        assert!(!a.is_active(3, 11, 59));
        assert!(!a.is_active(3, 12, 1));
        assert!(!a.is_active(4, 12, 0));
    }

    #[test]
    fn whole_day_window() {
        let a = w("0123456;00:00-23:59");
        for day in 0..7 {
            for (h, m) in [(0, 0), (12, 0), (23, 59)] {
                assert!(a.is_active(day, h, m));
            }
        }
    }

    #[test]
    fn spaces_around_parts_and_one_digit_hours_are_accepted() {
        assert_eq!(
            w(" 1 ; 9:00 - 17:30 , 2;8:05-8:06"),
            w("1;09:00-17:30,2;08:05-08:06")
        );
    }

    #[test]
    fn malformed_windows_are_refused() {
        for bad in [
            "",
            "09:00-17:00",
            ";09:00-17:00",
            "8;09:00-17:00",
            "1a;09:00-17:00",
            "1;0900-1700",
            "1;09:00",
            "1;24:00-01:00",
            "1;09:60-10:00",
            "1;09:0-10:00",
            "1;-1:00-10:00",
            "1;09:00-17:00,",
            "1;+9:00-10:00",
        ] {
            assert!(ActiveWindows::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn out_of_range_queries_are_inactive() {
        let a = w("0123456;00:00-23:59");
        assert!(!a.is_active(7, 0, 0));
        assert!(!a.is_active(0, 24, 0));
        assert!(!a.is_active(0, 0, 60));
    }

    #[test]
    fn display_round_trips() {
        let a = w("06;09:00-17:00,1;22:30-02:00");
        assert_eq!(a.to_string(), "06;09:00-17:00,1;22:30-02:00");
        assert_eq!(w(&a.to_string()), a);
    }
}
