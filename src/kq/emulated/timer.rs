//! EVFILT_TIMER (B23): one CLOCK_MONOTONIC timerfd per knote; the timerfd's expiration counter
//! is exactly FreeBSD's "number of times the timer has expired since the last delivery".

use std::time::Duration;

use super::consts::*;

/// The unit bits the emulation understands (FreeBSD values, spec §7). NOTE_ABSTIME (0x10) is
/// not emulated: a change carrying it fails with EINVAL rather than being misread as relative.
const UNIT_MASK: u32 = NOTE_SECONDS | NOTE_MSECONDS | NOTE_USECONDS | NOTE_NSECONDS;
const NOTE_ABSTIME: u32 = 0x0000_0010;

/// The timer's period from the change's `fflags` (unit) and `data` (amount), or an errno.
///
/// As FreeBSD's `filt_timervalidate`: negative data is EINVAL; any fflags bit other than the
/// units and NOTE_ABSTIME is EINVAL; more than one unit bit is EINVAL; no unit means
/// milliseconds; a periodic timer of 0 becomes 1 unit. A one-shot timer of 0 fires as soon as
/// possible (1 ns: a timerfd armed with 0 would be disarmed instead).
pub(super) fn period(fflags: u32, data: i64, periodic: bool) -> Result<Duration, i32> {
    if data < 0 || fflags & !(UNIT_MASK | NOTE_ABSTIME) != 0 || fflags & NOTE_ABSTIME != 0 {
        return Err(libc::EINVAL);
    }
    let amount = if data == 0 && periodic {
        1
    } else {
        data as u64
    };
    let period = match fflags & UNIT_MASK {
        0 | NOTE_MSECONDS => Duration::from_millis(amount),
        NOTE_SECONDS => Duration::from_secs(amount),
        NOTE_USECONDS => Duration::from_micros(amount),
        NOTE_NSECONDS => Duration::from_nanos(amount),
        _ => return Err(libc::EINVAL),
    };
    Ok(period.max(Duration::from_nanos(1)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_follow_freebsd() {
        assert_eq!(period(0, 50, true), Ok(Duration::from_millis(50)));
        assert_eq!(period(NOTE_MSECONDS, 5, true), Ok(Duration::from_millis(5)));
        assert_eq!(period(NOTE_SECONDS, 2, true), Ok(Duration::from_secs(2)));
        assert_eq!(period(NOTE_USECONDS, 7, true), Ok(Duration::from_micros(7)));
        assert_eq!(period(NOTE_NSECONDS, 9, true), Ok(Duration::from_nanos(9)));
        assert_eq!(period(0, 0, true), Ok(Duration::from_millis(1)));
        assert_eq!(period(0, -1, true), Err(libc::EINVAL));
        assert_eq!(
            period(NOTE_SECONDS | NOTE_USECONDS, 1, true),
            Err(libc::EINVAL)
        );
        assert_eq!(period(0x20, 1, true), Err(libc::EINVAL), "an unknown bit");
        assert_eq!(period(NOTE_TRIGGER, 1, true), Err(libc::EINVAL));
    }
}
