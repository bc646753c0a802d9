//! The report as Markdown: headings, lists and plain pipe tables (charts are
//! left out; their numbers are in the tables).

use super::document::{blocks, Block};
use super::Report;

fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

pub fn render(r: &Report) -> String {
    let mut out = String::new();
    for b in blocks(r) {
        match b {
            Block::Heading(level, text) => {
                out.push_str(&"#".repeat(level as usize));
                out.push(' ');
                out.push_str(&text);
                out.push_str("\n\n");
            }
            Block::Para(text) => {
                out.push_str(&text);
                out.push_str("\n\n");
            }
            Block::List(items) => {
                for i in items {
                    out.push_str("- ");
                    out.push_str(&i);
                    out.push('\n');
                }
                out.push('\n');
            }
            Block::Table { head, rows } => {
                if rows.is_empty() {
                    out.push_str("(none)\n\n");
                    continue;
                }
                let line = |cells: &[String]| {
                    format!(
                        "| {} |\n",
                        cells
                            .iter()
                            .map(|c| cell(c))
                            .collect::<Vec<_>>()
                            .join(" | ")
                    )
                };
                out.push_str(&line(&head));
                out.push_str(&format!("|{}\n", " --- |".repeat(head.len())));
                for r in &rows {
                    out.push_str(&line(r));
                }
                out.push('\n');
            }
            Block::Chart(_) => {}
        }
    }
    out
}
