//! The report as one self-contained HTML page: inline CSS, tables, and the
//! charts as inline SVG rendered here ([`super::svg`]). No script, no
//! external resource: it opens offline and can be archived as is.

use super::document::{blocks, Block};
use super::svg::{esc, render as svg};
use super::Report;

const STYLE: &str = "body{font-family:sans-serif;max-width:980px;margin:2em auto;padding:0 1em;color:#111827}\
table{border-collapse:collapse;margin:.5em 0 1.2em}th,td{border:1px solid #d1d5db;padding:4px 8px;text-align:left}\
th{background:#f3f4f6}td{font-variant-numeric:tabular-nums}figure{margin:1em 0}figcaption{font-weight:bold;margin-bottom:.3em}";

/// `**x**` (the Markdown total marker) as `<strong>`, everything escaped.
fn inline(s: &str) -> String {
    match s.strip_prefix("**").and_then(|r| r.strip_suffix("**")) {
        Some(inner) => format!("<strong>{}</strong>", esc(inner)),
        None => esc(s),
    }
}

pub fn render(r: &Report) -> String {
    let mut out = String::new();
    out.push_str("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">");
    out.push_str(&format!(
        "<title>adgate transparency report {} to {}</title><style>{STYLE}</style></head><body>\n",
        esc(&r.from),
        esc(&r.to)
    ));
    for b in blocks(r) {
        match b {
            Block::Heading(level, text) => {
                out.push_str(&format!("<h{level}>{}</h{level}>\n", esc(&text)))
            }
            Block::Para(text) => out.push_str(&format!("<p>{}</p>\n", esc(&text))),
            Block::List(items) => {
                out.push_str("<ul>");
                for i in items {
                    out.push_str(&format!("<li>{}</li>", esc(&i)));
                }
                out.push_str("</ul>\n");
            }
            Block::Table { head, rows } => {
                if rows.is_empty() {
                    out.push_str("<p>(none)</p>\n");
                    continue;
                }
                out.push_str("<table><thead><tr>");
                for h in &head {
                    out.push_str(&format!("<th>{}</th>", esc(h)));
                }
                out.push_str("</tr></thead><tbody>");
                for row in &rows {
                    out.push_str("<tr>");
                    for c in row {
                        out.push_str(&format!("<td>{}</td>", inline(c)));
                    }
                    out.push_str("</tr>");
                }
                out.push_str("</tbody></table>\n");
            }
            Block::Chart(c) => {
                let title = match &c {
                    super::document::Chart::Bars { title, .. }
                    | super::document::Chart::Lines { title, .. }
                    | super::document::Chart::HBars { title, .. } => title.clone(),
                };
                out.push_str(&format!(
                    "<figure><figcaption>{}</figcaption>{}</figure>\n",
                    esc(&title),
                    svg(&c)
                ));
            }
        }
    }
    out.push_str("</body></html>\n");
    out
}
