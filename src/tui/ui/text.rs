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

/// Which lines of a log fit a pane `height` rows tall, given each line's
/// height once wrapped: from `top` when scrolled (never past the point where
/// the last line reaches the bottom, so no blank rows follow the log), else
/// the tail. Returns the range of lines to draw.
pub(crate) fn window(heights: &[usize], height: usize, top: Option<usize>) -> (usize, usize) {
    let mut tail_start = heights.len();
    let mut used = 0;
    while tail_start > 0 && used + heights[tail_start - 1] <= height {
        used += heights[tail_start - 1];
        tail_start -= 1;
    }
    if tail_start == heights.len() && tail_start > 0 {
        tail_start -= 1;
    }
    let start = top.map_or(tail_start, |t| t.min(tail_start));
    let mut end = start;
    let mut used = 0;
    while end < heights.len() && (used + heights[end] <= height || end == start) {
        used += heights[end];
        end += 1;
    }
    (start, end)
}

/// A log's lines wrapped at `width` and the rows that fit `height`, scrolled
/// to `top` (see [`window`]), each row with its line's style.
pub(crate) fn log_rows<S: Copy>(
    lines: impl Iterator<Item = (String, S)>,
    width: usize,
    height: usize,
    top: Option<usize>,
) -> Vec<(String, S)> {
    let wrapped: Vec<(Vec<String>, S)> = lines.map(|(l, s)| (wrap(&l, width), s)).collect();
    let heights: Vec<usize> = wrapped.iter().map(|(rows, _)| rows.len()).collect();
    let (start, end) = window(&heights, height, top);
    wrapped[start..end]
        .iter()
        .flat_map(|(rows, s)| rows.iter().map(move |r| (r.clone(), *s)))
        .take(height)
        .collect()
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
    fn a_window_never_passes_the_end() {
        let h = [1, 1, 2, 1, 1];
        assert_eq!(window(&h, 3, None), (3, 5));
        assert_eq!(window(&h, 3, Some(0)), (0, 3));
        assert_eq!(window(&h, 3, Some(4)), (3, 5), "clamped to the tail");
        assert_eq!(window(&h, 10, Some(2)), (0, 5), "all fits: from the top");
        assert_eq!(window(&[5], 3, None), (0, 1), "a line taller than the pane");
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
