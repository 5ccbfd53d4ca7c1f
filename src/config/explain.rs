//! serde's and toml's parse errors, said so that staff can act on them.
//!
//! `invalid type: string "16", expected i64` becomes "expected a number, not
//! text in quotes: write 16 instead of \"16\""; a repeated table or `[store]`
//! written for `[[store]]` names the fix. The file:line:column form stays:
//! this only rewrites the message after it.

use std::ops::Range;

/// The message `check` prints for a parse error at `span` of `text`,
/// led by the key it is about when the line is `key = value`.
pub fn parse_error(message: &str, text: &str, span: Range<usize>) -> String {
    let line = line_at(text, span.start).trim();
    let explained = explain(message.trim_end(), line);
    match line
        .split_once('=')
        .map(|(key, _)| format!("`{}`", key.trim()))
    {
        Some(key) if !line.starts_with('[') && !explained.contains(&key) => {
            format!("{key}: {explained}")
        }
        _ => explained,
    }
}

fn explain(message: &str, line: &str) -> String {
    let table_header = line.starts_with('[');
    if line.starts_with("[store]")
        && (message.contains("duplicate") || message.contains("sequence"))
    {
        return format!(
            "`[store]` here defines one table, but stores are a list: write each store \
             as `[[store]]`, with two brackets ({message})"
        );
    }
    if message.contains("duplicate key") || message.contains("duplicate table") {
        return if table_header {
            format!(
                "the table `{line}` appears twice: merge the two into one ({message}); \
                 only `[[store]]` may repeat"
            )
        } else {
            format!("this key is set twice in the same table: keep one ({message})")
        };
    }
    if let Some(quoted) = quoted_string(message)
        && (message.contains("expected i64") || message.contains("expected u64"))
    {
        let bare = quoted.trim_matches('"');
        return format!(
            "expected a number, not text in quotes: write {bare} instead of {quoted} ({message})"
        );
    }
    if message.contains("expected a sequence") {
        return format!(
            "expected a list in square brackets, e.g. targets = [\"web1\"] ({message})"
        );
    }
    if message.contains("invalid type: integer") && message.contains("expected a string") {
        return format!("expected text in quotes, e.g. \"S001\" ({message})");
    }
    if message.starts_with("unknown field `preview`") && line.starts_with("[preview") {
        return format!(
            "there is no `[preview]` table: the preview pages are mirrored to a target \
             named under [daemon], e.g. `preview_target = \"staff\"` with a [target.staff] \
             of its own ({message})"
        );
    }
    if message.contains("expected a boolean") {
        return format!("expected true or false, without quotes ({message})");
    }
    message.to_string()
}

/// The `"..."` of `invalid type: string "16", expected ...`.
fn quoted_string(message: &str) -> Option<&str> {
    let rest = message.strip_prefix("invalid type: string ")?;
    let end = rest.rfind("\", expected")?;
    Some(&rest[..=end])
}

fn line_at(text: &str, offset: usize) -> &str {
    let offset = offset.min(text.len());
    let start = text[..offset].rfind('\n').map_or(0, |at| at + 1);
    let end = text[offset..]
        .find('\n')
        .map_or(text.len(), |at| offset + at);
    &text[start..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_key_and_the_fix() {
        let text = "[daemon]\nio_concurrency = \"16\"\n";
        let at = text.find('"').unwrap();
        let message = parse_error(
            "invalid type: string \"16\", expected i64",
            text,
            at..at + 4,
        );
        assert!(
            message.starts_with("`io_concurrency`: expected a number, not text in quotes: write 16 instead of \"16\""),
            "{message}"
        );
        let text = "[preview]\ntarget = \"staff\"\n";
        let message = parse_error(
            "unknown field `preview`, expected one of `daemon`, `pos`, `target`, `store`, `log`",
            text,
            1..8,
        );
        assert!(message.contains("preview_target = \"staff\""), "{message}");
        let text = "[store]\nid = \"x\"\n";
        let message = parse_error("invalid type: map, expected a sequence", text, 0..7);
        assert!(message.contains("`[[store]]`"), "{message}");
    }
}
