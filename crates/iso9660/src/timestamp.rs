//! The single UTC time an image records everywhere (descriptor creation and
//! modification dates, every directory record), and its two ECMA-119 byte
//! forms.
//!
//! Images never read the clock: the caller passes a time, or the builder
//! uses [`Timestamp::UNIX_EPOCH`], so equal inputs give equal bytes. Time
//! zones are left out; every timestamp is written with a GMT offset of zero.

use std::fmt;

/// A UTC date and time with one-second resolution, between
/// [`Timestamp::MIN_YEAR`] and [`Timestamp::MAX_YEAR`].
///
/// # Examples
///
/// ```
/// use iso9660::Timestamp;
///
/// let t = Timestamp::new(2024, 2, 29, 12, 30, 0)?;
/// assert_eq!(Timestamp::from_unix_seconds(1_709_209_800)?, t);
/// # Ok::<(), iso9660::TimestampError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Timestamp {
    year: u16,
    month: u8,
    day: u8,
    hour: u8,
    minute: u8,
    second: u8,
}

/// The descriptor form of "not specified" (ECMA-119 8.4.26.1): sixteen
/// ASCII zeros and a zero GMT offset.
pub(crate) const UNSET_DESCRIPTOR_DATE: [u8; 17] = *b"0000000000000000\0";

impl Timestamp {
    /// Earliest year a directory record can hold (it stores years since 1900
    /// in one byte).
    pub const MIN_YEAR: u16 = 1900;

    /// Latest year a directory record can hold (1900 + 255).
    pub const MAX_YEAR: u16 = 2155;

    /// 1970-01-01 00:00:00 UTC, the builder's default, so that images are
    /// reproducible unless the caller chooses a time.
    pub const UNIX_EPOCH: Self = Self {
        year: 1970,
        month: 1,
        day: 1,
        hour: 0,
        minute: 0,
        second: 0,
    };

    /// Builds a timestamp from calendar fields (UTC).
    ///
    /// # Errors
    ///
    /// Returns the [`TimestampError`] variant naming the first field out of
    /// range: a year outside [`Timestamp::MIN_YEAR`]..=[`Timestamp::MAX_YEAR`],
    /// a month outside 1..=12, a day past the end of that month (leap years
    /// included), an hour above 23, a minute above 59 or a second above 59
    /// (leap seconds are not representable).
    ///
    /// # Examples
    ///
    /// ```
    /// use iso9660::{Timestamp, TimestampError};
    ///
    /// assert!(Timestamp::new(2024, 2, 29, 0, 0, 0).is_ok());
    /// assert_eq!(
    ///     Timestamp::new(2023, 2, 29, 0, 0, 0),
    ///     Err(TimestampError::DayOutOfRange { year: 2023, month: 2, day: 29 })
    /// );
    /// ```
    pub fn new(
        year: u16,
        month: u8,
        day: u8,
        hour: u8,
        minute: u8,
        second: u8,
    ) -> Result<Self, TimestampError> {
        if !(Self::MIN_YEAR..=Self::MAX_YEAR).contains(&year) {
            return Err(TimestampError::YearOutOfRange {
                year: u64::from(year),
            });
        }
        if !(1..=12).contains(&month) {
            return Err(TimestampError::MonthOutOfRange { month });
        }
        if day == 0 || day > days_in_month(year, month) {
            return Err(TimestampError::DayOutOfRange { year, month, day });
        }
        if hour > 23 {
            return Err(TimestampError::HourOutOfRange { hour });
        }
        if minute > 59 {
            return Err(TimestampError::MinuteOutOfRange { minute });
        }
        if second > 59 {
            return Err(TimestampError::SecondOutOfRange { second });
        }
        Ok(Self {
            year,
            month,
            day,
            hour,
            minute,
            second,
        })
    }

    /// Converts seconds since 1970-01-01 00:00:00 UTC, for example a
    /// `SOURCE_DATE_EPOCH` value.
    ///
    /// # Errors
    ///
    /// Returns [`TimestampError::YearOutOfRange`] if the time falls after
    /// [`Timestamp::MAX_YEAR`].
    ///
    /// # Examples
    ///
    /// ```
    /// use iso9660::Timestamp;
    ///
    /// assert_eq!(Timestamp::from_unix_seconds(0)?, Timestamp::UNIX_EPOCH);
    /// assert!(Timestamp::from_unix_seconds(u64::MAX).is_err());
    /// # Ok::<(), iso9660::TimestampError>(())
    /// ```
    pub fn from_unix_seconds(seconds: u64) -> Result<Self, TimestampError> {
        let (year, month, day) = civil_from_days(seconds / 86_400);
        let out_of_range = TimestampError::YearOutOfRange { year };
        let year = u16::try_from(year).map_err(|_| out_of_range)?;
        let second_of_day = seconds % 86_400;
        // All three are below 60 or 24 by construction, so they fit in u8.
        let hour = (second_of_day / 3600) as u8;
        let minute = (second_of_day / 60 % 60) as u8;
        let second = (second_of_day % 60) as u8;
        Self::new(year, month, day, hour, minute, second)
    }

    /// ECMA-119 9.1.5: the seven-byte form used in directory records.
    pub(crate) fn directory_record_bytes(&self) -> [u8; 7] {
        // `new` keeps the year within 1900..=2155, so the offset fits in u8.
        let years_since_1900 = (self.year - Self::MIN_YEAR) as u8;
        [
            years_since_1900,
            self.month,
            self.day,
            self.hour,
            self.minute,
            self.second,
            0, // GMT offset in 15-minute steps
        ]
    }

    /// ECMA-119 8.4.26.1: the seventeen-byte form used in volume descriptors
    /// (sixteen ASCII digits, hundredths of a second always zero, and the
    /// GMT offset).
    pub(crate) fn descriptor_bytes(&self) -> [u8; 17] {
        let digits = format!(
            "{:04}{:02}{:02}{:02}{:02}{:02}00",
            self.year, self.month, self.day, self.hour, self.minute, self.second
        );
        let mut out = [0u8; 17];
        for (slot, byte) in out.iter_mut().zip(digits.bytes()) {
            *slot = byte;
        }
        out
    }
}

fn is_leap_year(year: u16) -> bool {
    (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400)
}

fn days_in_month(year: u16, month: u8) -> u8 {
    match month {
        2 if is_leap_year(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Proleptic Gregorian date of the given day number (0 = 1970-01-01), after
/// Howard Hinnant's `civil_from_days`
/// (<https://howardhinnant.github.io/date_algorithms.html#civil_from_days>),
/// restricted to non-negative days so it needs no signed arithmetic.
fn civil_from_days(days: u64) -> (u64, u8, u8) {
    let z = days + 719_468;
    let era = z / 146_097;
    let day_of_era = z - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    // Day is 1..=31 and month 1..=12 by the algorithm's construction.
    let day = (day_of_year - (153 * shifted_month + 2) / 5 + 1) as u8;
    let month = if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    } as u8;
    let year = year_of_era + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

/// Why calendar fields do not make a valid [`Timestamp`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TimestampError {
    /// The year is outside what a directory record can hold.
    YearOutOfRange {
        /// The rejected year.
        year: u64,
    },
    /// The month is not 1 to 12.
    MonthOutOfRange {
        /// The rejected month.
        month: u8,
    },
    /// The day does not exist in that month.
    DayOutOfRange {
        /// The year, which decides February's length.
        year: u16,
        /// The month.
        month: u8,
        /// The rejected day.
        day: u8,
    },
    /// The hour is above 23.
    HourOutOfRange {
        /// The rejected hour.
        hour: u8,
    },
    /// The minute is above 59.
    MinuteOutOfRange {
        /// The rejected minute.
        minute: u8,
    },
    /// The second is above 59.
    SecondOutOfRange {
        /// The rejected second.
        second: u8,
    },
}

impl fmt::Display for TimestampError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::YearOutOfRange { year } => write!(
                f,
                "year {year} cannot be recorded; ISO 9660 directory records hold years {} to {}",
                Timestamp::MIN_YEAR,
                Timestamp::MAX_YEAR
            ),
            Self::MonthOutOfRange { month } => write!(f, "month {month} is not 1 to 12"),
            Self::DayOutOfRange { year, month, day } => {
                write!(f, "day {day} does not exist in {year:04}-{month:02}")
            }
            Self::HourOutOfRange { hour } => write!(f, "hour {hour} is not 0 to 23"),
            Self::MinuteOutOfRange { minute } => write!(f, "minute {minute} is not 0 to 59"),
            Self::SecondOutOfRange { second } => write!(f, "second {second} is not 0 to 59"),
        }
    }
}

impl std::error::Error for TimestampError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validates_each_field() {
        assert_eq!(
            Timestamp::new(1899, 12, 31, 0, 0, 0),
            Err(TimestampError::YearOutOfRange { year: 1899 })
        );
        assert_eq!(
            Timestamp::new(2156, 1, 1, 0, 0, 0),
            Err(TimestampError::YearOutOfRange { year: 2156 })
        );
        assert_eq!(
            Timestamp::new(2000, 13, 1, 0, 0, 0),
            Err(TimestampError::MonthOutOfRange { month: 13 })
        );
        assert_eq!(
            Timestamp::new(2000, 0, 1, 0, 0, 0),
            Err(TimestampError::MonthOutOfRange { month: 0 })
        );
        assert_eq!(
            Timestamp::new(2000, 4, 31, 0, 0, 0),
            Err(TimestampError::DayOutOfRange {
                year: 2000,
                month: 4,
                day: 31
            })
        );
        assert_eq!(
            Timestamp::new(1900, 2, 29, 0, 0, 0),
            Err(TimestampError::DayOutOfRange {
                year: 1900,
                month: 2,
                day: 29
            })
        );
        assert!(Timestamp::new(2000, 2, 29, 0, 0, 0).is_ok());
        assert_eq!(
            Timestamp::new(2000, 1, 0, 0, 0, 0),
            Err(TimestampError::DayOutOfRange {
                year: 2000,
                month: 1,
                day: 0
            })
        );
        assert_eq!(
            Timestamp::new(2000, 1, 1, 24, 0, 0),
            Err(TimestampError::HourOutOfRange { hour: 24 })
        );
        assert_eq!(
            Timestamp::new(2000, 1, 1, 0, 60, 0),
            Err(TimestampError::MinuteOutOfRange { minute: 60 })
        );
        assert_eq!(
            Timestamp::new(2000, 1, 1, 0, 0, 60),
            Err(TimestampError::SecondOutOfRange { second: 60 })
        );
        assert!(Timestamp::new(2155, 12, 31, 23, 59, 59).is_ok());
    }

    #[test]
    fn converts_unix_seconds() {
        assert_eq!(
            Timestamp::from_unix_seconds(0).unwrap(),
            Timestamp::UNIX_EPOCH
        );
        assert_eq!(
            Timestamp::from_unix_seconds(951_782_400).unwrap(),
            Timestamp::new(2000, 2, 29, 0, 0, 0).unwrap()
        );
        assert_eq!(
            Timestamp::from_unix_seconds(1_700_000_000).unwrap(),
            Timestamp::new(2023, 11, 14, 22, 13, 20).unwrap()
        );
        // 2155-12-31 23:59:59 is the last representable second.
        assert_eq!(
            Timestamp::from_unix_seconds(5_869_583_999).unwrap(),
            Timestamp::new(2155, 12, 31, 23, 59, 59).unwrap()
        );
        assert_eq!(
            Timestamp::from_unix_seconds(5_869_584_000),
            Err(TimestampError::YearOutOfRange { year: 2156 })
        );
        assert!(matches!(
            Timestamp::from_unix_seconds(u64::MAX),
            Err(TimestampError::YearOutOfRange { .. })
        ));
    }

    #[test]
    fn encodes_directory_record_form() {
        let t = Timestamp::new(2026, 11, 29, 9, 53, 42).unwrap();
        assert_eq!(t.directory_record_bytes(), [126, 11, 29, 9, 53, 42, 0]);
        assert_eq!(
            Timestamp::UNIX_EPOCH.directory_record_bytes(),
            [70, 1, 1, 0, 0, 0, 0]
        );
    }

    #[test]
    fn encodes_descriptor_form() {
        let t = Timestamp::new(2026, 11, 29, 9, 53, 42).unwrap();
        assert_eq!(&t.descriptor_bytes(), b"2026112909534200\0");
        assert_eq!(UNSET_DESCRIPTOR_DATE.len(), 17);
    }

    #[test]
    fn error_messages_are_exact() {
        assert_eq!(
            TimestampError::YearOutOfRange { year: 2156 }.to_string(),
            "year 2156 cannot be recorded; ISO 9660 directory records hold years 1900 to 2155"
        );
        assert_eq!(
            TimestampError::DayOutOfRange {
                year: 2023,
                month: 2,
                day: 29
            }
            .to_string(),
            "day 29 does not exist in 2023-02"
        );
    }
}
