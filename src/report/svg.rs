//! Small server-side SVG charts for the HTML report: vertical bars, lines
//! and horizontal bars, with a y axis of round ticks. Plain SVG 1.1
//! elements with inline attributes: no script, no external resource, so
//! the report renders anywhere, offline.

use std::fmt::Write as _;

use super::document::{Chart, Series};

const W: f64 = 760.0;
const H: f64 = 240.0;
const LEFT: f64 = 60.0;
const RIGHT: f64 = 16.0;
const TOP: f64 = 30.0;
const BOTTOM: f64 = 40.0;

/// Bar colour of each vertical bar chart, by chart id.
pub fn bar_color(id: &str) -> &'static str {
    match id {
        "pii_guard" => "#7c3aed",
        _ => "#2563eb",
    }
}
/// Line colours, one per series in order.
pub const LINE_COLORS: [&str; 6] = [
    "#dc2626", "#16a34a", "#0891b2", "#ca8a04", "#db2777", "#4b5563",
];
pub const HBAR_COLOR: &str = "#d97706";

pub fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// The smallest 1/2/5 x 10^k at or above `v` (at least 1).
fn nice_step(v: u64) -> u64 {
    let mut step = 1u64;
    loop {
        for m in [1, 2, 5] {
            if step.saturating_mul(m) >= v {
                return step.saturating_mul(m).max(1);
            }
        }
        step = step.saturating_mul(10);
    }
}

/// The top of an axis with four equal, round ticks that holds `v`.
pub fn nice_max(v: u64) -> u64 {
    nice_step(v.div_ceil(4)).saturating_mul(4)
}

fn open(out: &mut String, id: &str, title: &str, height: f64) {
    let _ = write!(
        out,
        r##"<svg xmlns="http://www.w3.org/2000/svg" class="chart" data-chart="{id}" role="img" width="{W}" height="{height}" viewBox="0 0 {W} {height}"><title>{}</title><rect x="0" y="0" width="{W}" height="{height}" fill="#ffffff"/>"##,
        esc(title)
    );
}

/// Gridlines and y labels for 0..=max in four steps; returns y(v).
fn y_axis(out: &mut String, max: u64) -> impl Fn(u64) -> f64 {
    let ph = H - TOP - BOTTOM;
    for i in 0..=4u64 {
        let v = max * i / 4;
        let y = TOP + ph - ph * (i as f64 / 4.0);
        let _ = write!(
            out,
            r##"<line x1="{LEFT}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="#e5e7eb" stroke-width="1"/><text x="{:.1}" y="{:.1}" font-size="11" font-family="sans-serif" text-anchor="end" fill="#374151">{v}</text>"##,
            W - RIGHT,
            LEFT - 6.0,
            y + 4.0
        );
    }
    let _ = write!(
        out,
        r##"<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{:.1}" stroke="#6b7280" stroke-width="1"/>"##,
        TOP + ph
    );
    move |v: u64| TOP + ph - ph * (v as f64 / max as f64)
}

/// X labels under `n` slots, at most eight of them, as `MM-DD`.
fn x_labels(out: &mut String, x: &[String], slot_center: impl Fn(usize) -> f64) {
    let every = x.len().div_ceil(8).max(1);
    for (i, label) in x.iter().enumerate() {
        if i % every != 0 && i + 1 != x.len() {
            continue;
        }
        let short = label.get(5..).unwrap_or(label);
        let _ = write!(
            out,
            r##"<text x="{:.1}" y="{:.1}" font-size="11" font-family="sans-serif" text-anchor="middle" fill="#374151">{}</text>"##,
            slot_center(i),
            H - BOTTOM + 16.0,
            esc(short)
        );
    }
}

fn empty_note(out: &mut String, height: f64) {
    let _ = write!(
        out,
        r##"<text x="{:.1}" y="{:.1}" font-size="13" font-family="sans-serif" text-anchor="middle" fill="#6b7280">no events in this period</text>"##,
        W / 2.0,
        height / 2.0
    );
}

fn bars(out: &mut String, id: &str, x: &[String], s: &Series) {
    let max = nice_max(s.values.iter().copied().max().unwrap_or(0));
    let y = y_axis(out, max);
    let pw = W - LEFT - RIGHT;
    let slot = pw / x.len().max(1) as f64;
    let center = |i: usize| LEFT + slot * (i as f64 + 0.5);
    let color = bar_color(id);
    for (i, v) in s.values.iter().enumerate() {
        if *v == 0 {
            continue;
        }
        let top = y(*v).min(TOP + (H - TOP - BOTTOM) - 1.0);
        let bw = (slot * 0.7).max(1.0);
        let _ = write!(
            out,
            r##"<rect class="bar" x="{:.1}" y="{top:.1}" width="{bw:.1}" height="{:.1}" fill="{color}"><title>{}: {v}</title></rect>"##,
            center(i) - bw / 2.0,
            (H - BOTTOM) - top,
            esc(&x[i])
        );
    }
    x_labels(out, x, center);
    if s.values.iter().all(|v| *v == 0) {
        empty_note(out, H);
    }
}

fn lines(out: &mut String, x: &[String], series: &[Series]) {
    let max = nice_max(
        series
            .iter()
            .flat_map(|s| s.values.iter().copied())
            .max()
            .unwrap_or(0),
    );
    let y = y_axis(out, max);
    let pw = W - LEFT - RIGHT;
    let n = x.len().max(1);
    let px = |i: usize| {
        if n == 1 {
            LEFT + pw / 2.0
        } else {
            LEFT + 8.0 + (pw - 16.0) * i as f64 / (n - 1) as f64
        }
    };
    for (si, s) in series.iter().enumerate() {
        let color = LINE_COLORS[si % LINE_COLORS.len()];
        let points: Vec<String> = s
            .values
            .iter()
            .enumerate()
            .map(|(i, v)| format!("{:.1},{:.1}", px(i), y(*v)))
            .collect();
        let _ = write!(
            out,
            r#"<polyline class="line" data-series="{}" fill="none" stroke="{color}" stroke-width="2.5" points="{}"/>"#,
            esc(&s.name),
            points.join(" ")
        );
        for (i, v) in s.values.iter().enumerate() {
            let _ = write!(
                out,
                r#"<circle class="point" cx="{:.1}" cy="{:.1}" r="4" fill="{color}"><title>{} {}: {v}</title></circle>"#,
                px(i),
                y(*v),
                esc(&s.name),
                esc(&x[i])
            );
        }
        // Legend, top right, one entry per series.
        let lx = W - RIGHT - 150.0 * (series.len() - si) as f64;
        let _ = write!(
            out,
            r##"<rect x="{lx:.1}" y="8" width="12" height="12" fill="{color}"/><text x="{:.1}" y="18" font-size="12" font-family="sans-serif" fill="#111827">{}</text>"##,
            lx + 16.0,
            esc(&s.name)
        );
    }
    x_labels(out, x, px);
    if series.iter().all(|s| s.values.iter().all(|v| *v == 0)) {
        empty_note(out, H);
    }
}

fn hbars(out: &mut String, items: &[(String, u64)], height: f64) {
    let max = nice_max(items.iter().map(|i| i.1).max().unwrap_or(0));
    let label_w = 120.0;
    let x0 = label_w;
    let pw = W - x0 - RIGHT - 50.0;
    let row = 24.0;
    for (i, (label, v)) in items.iter().enumerate() {
        let yy = TOP + row * i as f64;
        let w = pw * (*v as f64 / max as f64);
        let _ = write!(
            out,
            r##"<text x="{:.1}" y="{:.1}" font-size="12" font-family="sans-serif" text-anchor="end" fill="#111827">{}</text>"##,
            x0 - 8.0,
            yy + 15.0,
            esc(label)
        );
        if *v > 0 {
            let _ = write!(
                out,
                r#"<rect class="hbar" x="{x0:.1}" y="{:.1}" width="{:.1}" height="16" fill="{HBAR_COLOR}"><title>{}: {v}</title></rect>"#,
                yy + 3.0,
                w.max(1.0),
                esc(label)
            );
        }
        let _ = write!(
            out,
            r##"<text x="{:.1}" y="{:.1}" font-size="12" font-family="sans-serif" fill="#374151">{v}</text>"##,
            x0 + w + 6.0,
            yy + 15.0
        );
    }
    if items.iter().all(|i| i.1 == 0) {
        empty_note(out, height);
    }
}

/// One chart as an `<svg>` element.
pub fn render(c: &Chart) -> String {
    let mut out = String::new();
    match c {
        Chart::Bars {
            id,
            title,
            x,
            series,
        } => {
            open(&mut out, id, title, H);
            bars(&mut out, id, x, series);
        }
        Chart::Lines {
            id,
            title,
            x,
            series,
        } => {
            open(&mut out, id, title, H);
            lines(&mut out, x, series);
        }
        Chart::HBars { id, title, items } => {
            let height = TOP + 24.0 * items.len() as f64 + 10.0;
            open(&mut out, id, title, height);
            hbars(&mut out, items, height);
        }
    }
    out.push_str("</svg>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nice_maxima() {
        // Ticks are max/4 apart and must be whole, round numbers.
        assert_eq!(nice_max(0), 4);
        assert_eq!(nice_max(1), 4);
        assert_eq!(nice_max(5), 8);
        assert_eq!(nice_max(12), 20);
        assert_eq!(nice_max(21), 40);
        assert_eq!(nice_max(250), 400);
        assert_eq!(nice_max(1001), 2000);
        assert_eq!(nice_max(u64::MAX), u64::MAX);
    }

    #[test]
    fn bars_scale_to_the_axis() {
        let svg = render(&Chart::Bars {
            id: "received",
            title: "t <&>".into(),
            x: vec!["2026-11-01".into(), "2026-11-02".into()],
            series: Series {
                name: "s".into(),
                values: vec![0, 20],
            },
        });
        // One bar (zero days draw none), reaching the top of a 0..20 axis.
        assert_eq!(svg.matches("class=\"bar\"").count(), 1);
        assert!(svg.contains(&format!(r#"y="{TOP:.1}""#)), "{svg}");
        assert!(svg.contains("t &lt;&amp;&gt;"));
        assert!(!svg.contains("no events"));
    }
}
