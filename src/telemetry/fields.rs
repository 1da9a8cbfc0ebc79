//! How the human-readable format writes a span's or an event's fields:
//! `message name=value name="text"`, the layout of tracing-subscriber's
//! default, with two differences.
//!
//! - Every value is escaped, not only the message: a control character
//!   (newline, carriage return, ESC and the other C0 codes, DEL, the C1 codes)
//!   is written as `\x..` or `\u{..}`, so no value — an error that quotes its
//!   input, say — can start a forged line or drive the operator's terminal.
//!   Text values are also written with Rust's `Debug` (quoted, escaped).
//! - It is plain text, no ANSI styling: the default styles each field name
//!   and `=` even with colours off, a quarter of the instructions of a
//!   request's span and line (README, Load).

use std::fmt::{self, Write};

use tracing::field::{Field, Visit};
use tracing_subscriber::field::RecordFields;
use tracing_subscriber::fmt::FormatFields;
use tracing_subscriber::fmt::format::Writer;

/// The text format's field writer (`fmt().fmt_fields(PlainFields)`).
pub struct PlainFields;

impl<'writer> FormatFields<'writer> for PlainFields {
    fn format_fields<R: RecordFields>(&self, writer: Writer<'writer>, fields: R) -> fmt::Result {
        let mut visitor = PlainVisitor { writer, first: true, result: Ok(()) };
        fields.record(&mut visitor);
        visitor.result
    }
}

struct PlainVisitor<'writer> {
    writer: Writer<'writer>,
    first: bool,
    result: fmt::Result,
}

impl PlainVisitor<'_> {
    fn write_field(&mut self, field: &Field, value: &dyn fmt::Debug) -> fmt::Result {
        if !std::mem::take(&mut self.first) {
            self.writer.write_char(' ')?;
        }
        let name = field.name();
        if name != "message" {
            self.writer.write_str(name.strip_prefix("r#").unwrap_or(name))?;
            self.writer.write_char('=')?;
        }
        write!(Escaping(&mut self.writer), "{value:?}")
    }
}

impl Visit for PlainVisitor<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.record_debug(field, &format_args!("{value}"));
        } else {
            self.record_debug(field, &value);
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if self.result.is_ok() {
            self.result = self.write_field(field, value);
        }
    }
}

/// Writes text through, control characters escaped. Most text has none: it
/// is checked a chunk at a time and written whole.
struct Escaping<'a, W: Write>(&'a mut W);

impl<W: Write> Write for Escaping<'_, W> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        // 0xC2 leads every C1 code (U+0080..U+009F) in UTF-8, and some
        // printable characters too: those take the careful path, harmlessly.
        if !text.bytes().any(|b| b < 0x20 || b == 0x7f || b == 0xc2) {
            return self.0.write_str(text);
        }
        for c in text.chars() {
            match c {
                '\u{0}'..='\u{1f}' | '\u{7f}' => write!(self.0, "\\x{:02x}", c as u32)?,
                '\u{80}'..='\u{9f}' => write!(self.0, "\\u{{{:x}}}", c as u32)?,
                _ => self.0.write_char(c)?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use tracing_subscriber::fmt::MakeWriter;

    use super::*;

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Captured {
        type Writer = Captured;
        fn make_writer(&'a self) -> Self::Writer {
            self.clone()
        }
    }

    /// What the app's text format writes for what `log` logs.
    fn text_of(log: impl FnOnce()) -> String {
        let captured = Captured::default();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(captured.clone())
            .with_ansi(false)
            .without_time()
            .with_target(false)
            .fmt_fields(PlainFields)
            .finish();
        tracing::subscriber::with_default(subscriber, log);
        String::from_utf8(captured.0.lock().unwrap().clone()).unwrap()
    }

    #[test]
    fn fields_follow_the_message_as_name_value_pairs_inside_their_span() {
        let text = text_of(|| {
            let span = tracing::info_span!("request", request_id = %"abc", method = %"GET", path = %"/login");
            let _entered = span.enter();
            tracing::info!(status = 200, elapsed_us = 17u64, email = "a@example.com", "request");
        });
        assert_eq!(
            text,
            " INFO request{request_id=abc method=GET path=/login}: request status=200 elapsed_us=17 \
             email=\"a@example.com\"\n"
        );
    }

    #[test]
    fn a_value_cannot_start_a_line_of_its_own_or_send_terminal_codes() {
        let hostile = "boom\nINFO forged line\r\u{1b}[31mred\u{7}\u{9b}";
        let text = text_of(|| tracing::error!(error = %hostile, "unexpected {}", hostile));
        assert_eq!(text.lines().count(), 1, "{text}");
        assert!(!text.contains('\u{1b}') && !text.contains('\r') && !text.contains('\u{9b}'), "{text:?}");
        assert!(
            text.contains(r"unexpected boom\x0aINFO forged line\x0d\x1b[31mred\x07\u{9b} error=boom\x0a"),
            "{text:?}"
        );
    }

    #[test]
    fn text_values_are_quoted_and_printable_text_is_written_as_it_is() {
        let text = text_of(|| tracing::info!(to = "né\tzoé", note = %"café ¡olé!", "sent"));
        assert!(text.ends_with("sent to=\"né\\tzoé\" note=café ¡olé!\n"), "{text:?}");
    }
}
