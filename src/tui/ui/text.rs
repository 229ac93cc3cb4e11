//! Fitting text into narrow panes without cutting words: wrapping between
//! words, and choosing the longest of several phrasings that fits.

/// Splits `text` into lines of at most `width` characters, between words where
/// it can (a word longer than a line is cut).
pub(crate) fn wrap(text: &str, width: usize) -> Vec<String> {
    let width = width.max(1);
    let mut lines = Vec::new();
    for paragraph in text.split('\n') {
        wrap_paragraph(paragraph, width, &mut lines);
    }
    lines
}

fn wrap_paragraph(text: &str, width: usize, lines: &mut Vec<String>) {
    let mut line = String::new();
    for word in text.split(' ') {
        let needed = line.chars().count() + usize::from(!line.is_empty()) + word.chars().count();
        if !line.is_empty() && needed > width {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
        while line.chars().count() > width {
            let cut: String = line.chars().take(width).collect();
            line = line.chars().skip(width).collect();
            lines.push(cut);
        }
    }
    lines.push(line);
}

/// The first of `candidates` (most informative first) that fits in `width`
/// characters; the last one if none does.
pub(crate) fn fit(candidates: &[String], width: usize) -> String {
    candidates
        .iter()
        .find(|c| c.chars().count() <= width)
        .or(candidates.last())
        .cloned()
        .unwrap_or_default()
}

/// Joins the parts that fit in `width`, separated by `sep`, dropping parts
/// from the end: the first parts matter most.
pub(crate) fn join_fitting(parts: &[String], sep: &str, width: usize) -> String {
    let mut out = String::new();
    for p in parts {
        let extra = if out.is_empty() {
            0
        } else {
            sep.chars().count()
        };
        if out.chars().count() + extra + p.chars().count() > width {
            break;
        }
        if !out.is_empty() {
            out.push_str(sep);
        }
        out.push_str(p);
    }
    out
}

/// A log's lines wrapped at `width`, each row with its line's style, and the
/// `height` rows shown: from the first row of line `top` when scrolled, else
/// the tail. Never past the end: the last row, once reached, stays at the
/// bottom, so no blank rows follow the log.
pub(crate) fn log_rows<S: Copy>(
    lines: impl Iterator<Item = (String, S)>,
    width: usize,
    height: usize,
    top: Option<usize>,
) -> Vec<(String, S)> {
    let mut rows = Vec::new();
    let mut first_row = 0;
    for (n, (line, style)) in lines.enumerate() {
        if Some(n) == top {
            first_row = rows.len();
        }
        rows.extend(wrap(&line, width).into_iter().map(|r| (r, style)));
    }
    let last_start = rows.len().saturating_sub(height);
    let start = match top {
        Some(_) => first_row.min(last_start),
        None => last_start,
    };
    rows.into_iter().skip(start).take(height).collect()
}

/// The first of `lines` from which the rest, wrapped at `width`, fills at
/// most `height` rows: the top line that puts the last one at the bottom.
pub(crate) fn last_top(lines: &[String], width: usize, height: usize) -> usize {
    let mut rows = 0;
    for (i, line) in lines.iter().enumerate().rev() {
        rows += wrap(line, width).len();
        if rows > height {
            // A last line taller than the view still shows from its start.
            return (i + 1).min(lines.len() - 1);
        }
    }
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wraps_between_words_and_cuts_only_long_words() {
        assert_eq!(wrap("is required", 40), vec!["is required"]);
        assert_eq!(
            wrap(
                "\"61 * * * *\" is not a valid cron expression: Minutes out of range",
                49
            ),
            vec![
                "\"61 * * * *\" is not a valid cron expression:",
                "Minutes out of range"
            ]
        );
        assert_eq!(wrap("abcdefgh", 3), vec!["abc", "def", "gh"]);
        assert_eq!(wrap("", 10), vec![""]);
        assert_eq!(wrap("a\nb c", 10), vec!["a", "b c"]);
    }

    #[test]
    fn log_rows_never_pass_the_end() {
        let lines = || {
            ["a", "b", "c1 c2", "d", "e"]
                .into_iter()
                .map(|l| (l.to_string(), ()))
        };
        let shown = |top| -> Vec<String> {
            log_rows(lines(), 2, 3, top)
                .into_iter()
                .map(|(r, _)| r)
                .collect()
        };
        assert_eq!(shown(None), ["c2", "d", "e"], "the tail, bottom-aligned");
        assert_eq!(shown(Some(0)), ["a", "b", "c1"]);
        assert_eq!(shown(Some(4)), ["c2", "d", "e"], "clamped to the tail");
        let texts: Vec<String> = lines().map(|(l, _)| l).collect();
        assert_eq!(last_top(&texts, 2, 3), 3, "c1 c2 wraps: d and e fit below");
        assert_eq!(last_top(&texts, 5, 3), 2);
        assert_eq!(last_top(&texts, 5, 9), 0);
        let short = log_rows([("x".to_string(), ())].into_iter(), 2, 3, Some(0));
        assert_eq!(short.len(), 1, "a short log is not padded");
    }

    #[test]
    fn fit_and_join_keep_whole_phrases() {
        let c = ["long phrase".to_string(), "short".to_string()];
        assert_eq!(fit(&c, 20), "long phrase");
        assert_eq!(fit(&c, 6), "short");
        let parts = ["a1".to_string(), "b22".to_string(), "c333".to_string()];
        assert_eq!(join_fitting(&parts, " · ", 9), "a1 · b22");
    }
}
