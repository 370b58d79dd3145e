//! Calendar arithmetic (Howard Hinnant's algorithms) for the few dates the
//! device shows or takes; the device has no time-zone library to lean on.

/// Seconds since 1970 of a UTC date and time.
pub fn unix_time((y, m, d): (i32, u32, u32), (hh, mm, ss): (u32, u32, u32)) -> i64 {
    // Days from civil (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y } as i64;
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m as i64 + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146097 + doe - 719468;
    days * 86400 + (hh * 3600 + mm * 60 + ss) as i64
}

/// The UTC date and time of seconds since 1970.
pub fn civil(t: i64) -> ((i32, u32, u32), (u32, u32, u32)) {
    let days = t.div_euclid(86400);
    let secs = t.rem_euclid(86400) as u32;
    let z = days + 719468;
    let era = z.div_euclid(146097);
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = (yoe + era * 400 + if m <= 2 { 1 } else { 0 }) as i32;
    ((y, m, d), (secs / 3600, secs / 60 % 60, secs % 60))
}
