//! The serial console as text: finding whole lines in what the guest
//! printed, with kernel messages that landed in the middle of a line looked
//! through.

pub(crate) const CLOSED: &str = "\n<console closed>\n";

/// The console bytes as text, without carriage returns.
pub(crate) fn clean(raw: &[u8]) -> String {
    String::from_utf8_lossy(raw).replace('\r', "")
}

/// The line of `text` holding `needle` (from the line's start, which may
/// lie before `text`, to its end) and the offset of the end of that line;
/// `None` while the line is incomplete and `whole_line` asks for it.
pub(crate) fn find_line(text: &str, needle: &str, whole_line: bool) -> Option<(String, usize)> {
    let at = text.find(needle)?;
    let start = text[..at].rfind('\n').map(|i| i + 1).unwrap_or(0);
    let end = text[at..].find('\n').map(|i| at + i).or((!whole_line).then_some(text.len()))?;
    Some((text[start..end].to_string(), end))
}

/// `text` without the complete kernel messages (`[   12.901173] ...\n`) that
/// start in the middle of a line, and for each byte of the result its offset
/// in `text`. "abc[  1.200000] msg\ndef" reads "abcdef".
pub(crate) fn without_interjected_kmsgs(text: &str) -> (String, Vec<usize>) {
    let (joined, map, _) = split_interjected_kmsgs(text);
    (joined, map)
}

/// [`without_interjected_kmsgs`], and the messages taken out.
fn split_interjected_kmsgs(text: &str) -> (String, Vec<usize>, String) {
    let mut out = String::with_capacity(text.len());
    let mut map = Vec::with_capacity(text.len());
    let mut removed = String::new();
    let mut i = 0;
    let mut line_start = true;
    while let Some(c) = text[i..].chars().next() {
        if c == '[' && !line_start {
            if let Some(len) = kmsg_len(&text[i..]) {
                removed.push_str(&text[i..i + len]);
                i += len;
                continue;
            }
        }
        out.push(c);
        map.extend((0..c.len_utf8()).map(|k| i + k));
        line_start = c == '\n';
        i += c.len_utf8();
    }
    (out, map, removed)
}

/// `text` with each kernel message that interrupted a line, or came as a
/// line of its own between a command's output lines, moved after the text,
/// so that a command's output reads whole and nothing is lost.
pub fn untangle_kmsgs(text: &str) -> String {
    let (joined, _, interjected) = split_interjected_kmsgs(text);
    let mut out = String::with_capacity(text.len());
    let mut moved = String::new();
    for line in joined.split_inclusive('\n') {
        if line.starts_with('[') && kmsg_len(line) == Some(line.len()) {
            moved.push_str(line);
        } else {
            out.push_str(line);
        }
    }
    out.push_str(&interjected);
    out.push_str(&moved);
    out
}

/// The length of a complete kernel message at the start of `s`, with its
/// newline: `[` seconds `.` six digits `] ` text `\n`.
fn kmsg_len(s: &str) -> Option<usize> {
    let close = s.find("] ")?;
    let (secs, micros) = s[1..close].trim_start().split_once('.')?;
    let digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
    if !(digits(secs) && digits(micros) && micros.len() == 6) {
        return None;
    }
    Some(s.find('\n')? + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_command_output_reads_whole_with_kernel_messages_moved_after_it() {
        let text = "cmd\n1\n[    7.510261] assistant: home screen\n1\nen[    7.600000] x\nd-42-0\n";
        let out = untangle_kmsgs(text);
        assert!(out.starts_with("cmd\n1\n1\n"), "{out}");
        assert!(out.contains("end-42-0\n"), "{out}");
        assert!(out.ends_with("[    7.510261] assistant: home screen\n"), "{out}");
        // Not a kernel message (no six-digit fraction): left in place.
        assert_eq!(untangle_kmsgs("[1] one\ntwo\n"), "[1] one\ntwo\n");
    }

    #[test]
    fn a_kernel_message_inside_a_line_is_looked_through() {
        let text = "x\nfwupdate: test pause at [   12.901173] init: health check passed\nAfterFlip for 600 s\nnext\n";
        assert_eq!(find_line(text, "test pause at AfterFlip", true), None);
        let (joined, map) = without_interjected_kmsgs(text);
        assert_eq!(joined, "x\nfwupdate: test pause at AfterFlip for 600 s\nnext\n");
        let (line, end) = find_line(&joined, "test pause at AfterFlip", true).unwrap();
        assert_eq!(line, "fwupdate: test pause at AfterFlip for 600 s");
        // The end maps to the newline after the continuation in the raw text.
        assert_eq!(&text[map[end]..], "\nnext\n");
        // The kernel message itself is still found in the raw text.
        assert_eq!(
            find_line(text, "health check passed", true).unwrap().0,
            "fwupdate: test pause at [   12.901173] init: health check passed"
        );
    }

    #[test]
    fn untangled_output_keeps_the_kernel_messages_at_the_end() {
        let text = "status: prio[    1.000000] init: a\nrity=2\nok\n";
        assert_eq!(untangle_kmsgs(text), "status: priority=2\nok\n[    1.000000] init: a\n");
        assert_eq!(untangle_kmsgs("plain\n"), "plain\n");
    }

    #[test]
    fn only_complete_timestamped_messages_are_taken_out() {
        for text in ["a [1] b\n", "a [   1.2] b\n", "[   12.901173] at line start\n", "a [   12.901173] no newline yet"]
        {
            assert_eq!(without_interjected_kmsgs(text).0, text, "{text:?}");
        }
    }
}
