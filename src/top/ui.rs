//! Draws a [`State`] with ratatui: a status line, process figures,
//! producers, partners, and the selected partner's drops by reason.

use std::time::SystemTime;

use ratatui::layout::{Constraint, Layout};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Row, Table, TableState};
use ratatui::Frame;

use super::{PartnerRow, State, View};

/// `12.3`, or `-` when there is no figure (no series, or no previous scrape).
pub fn per_s(v: Option<f64>) -> String {
    match v {
        Some(v) if v.is_finite() => format!("{v:.1}"),
        _ => "-".into(),
    }
}

pub fn count(v: Option<f64>) -> String {
    match v {
        Some(v) if v.is_finite() => format!("{v:.0}"),
        _ => "-".into(),
    }
}

/// Bytes in binary units: `512 B`, `1.5 KiB`, `20.0 MiB`.
pub fn bytes(v: Option<f64>) -> String {
    let Some(mut v) = v.filter(|v| v.is_finite()) else {
        return "-".into();
    };
    if v < 1024.0 {
        return format!("{v:.0} B");
    }
    for unit in ["KiB", "MiB", "GiB"] {
        v /= 1024.0;
        if v < 1024.0 {
            return format!("{v:.1} {unit}");
        }
    }
    format!("{v:.1} TiB")
}

fn seconds(v: Option<f64>) -> String {
    match v {
        Some(v) if v < 1.0 => format!("{:.0}ms", v * 1000.0),
        Some(v) if v < 120.0 => format!("{v:.1}s"),
        Some(v) if v.is_finite() => format!("{:.0}m", v / 60.0),
        _ => "-".into(),
    }
}

/// `HH:MM:SS UTC`.
pub fn clock(t: SystemTime) -> String {
    let t = time::OffsetDateTime::from(t);
    format!("{:02}:{:02}:{:02} UTC", t.hour(), t.minute(), t.second())
}

pub fn draw(f: &mut Frame, st: &State) {
    let empty = View::between(
        None,
        &super::Scrape {
            at: std::time::Instant::now(),
            samples: Default::default(),
        },
    );
    let v = st.view.as_ref().unwrap_or(&empty);
    let producers = v.producers.len().max(1) as u16;
    let partners = v.partners.len().max(1) as u16;
    let [status, process, prod, rejected, part, detail, keys] = Layout::vertical([
        Constraint::Length(2),
        Constraint::Length(1),
        Constraint::Length(producers + 3),
        Constraint::Length(1),
        Constraint::Length(partners + 3),
        Constraint::Min(3),
        Constraint::Length(1),
    ])
    .areas(f.area());
    f.render_widget(Paragraph::new(status_lines(st, v)), status);
    f.render_widget(Paragraph::new(process_line(v)), process);
    f.render_widget(producer_table(v), prod);
    f.render_widget(Paragraph::new(rejected_line(v)), rejected);
    let mut sel = TableState::default().with_selected(Some(st.selected));
    f.render_stateful_widget(partner_table(v), part, &mut sel);
    f.render_widget(detail_table(v.partners.get(st.selected)), detail);
    f.render_widget(
        Paragraph::new(Line::from(vec![
            Span::styled(" q", Style::new().add_modifier(Modifier::BOLD)),
            Span::raw(" quit  "),
            Span::styled("p", Style::new().add_modifier(Modifier::BOLD)),
            Span::raw(" pause  "),
            Span::styled("↑/↓", Style::new().add_modifier(Modifier::BOLD)),
            Span::raw(" select a partner"),
        ])),
        keys,
    );
}

fn status_lines(st: &State, v: &View) -> Vec<Line<'static>> {
    let mut head = vec![
        Span::styled("adgate top", Style::new().add_modifier(Modifier::BOLD)),
        Span::raw(format!("  {}", st.target)),
    ];
    if let Some(ver) = &v.version {
        head.push(Span::raw(format!("  version {ver}")));
    }
    head.push(Span::raw(format!("  every {}s", st.interval.as_secs_f64())));
    if let Some(t) = st.updated {
        head.push(Span::raw(format!("  updated {}", clock(t))));
    }
    if st.paused {
        head.push(Span::styled(
            "  PAUSED (p to resume)",
            Style::new().fg(Color::Yellow).add_modifier(Modifier::BOLD),
        ));
    }
    let second = match (&st.unreachable, &st.view) {
        (Some((since, e)), _) => Line::from(Span::styled(
            format!(
                "unreachable since {} ({e}); retrying every {}s{}",
                clock(*since),
                st.interval.as_secs_f64(),
                if st.view.is_some() {
                    "; figures below are the last ones read"
                } else {
                    ""
                }
            ),
            Style::new().fg(Color::Red).add_modifier(Modifier::BOLD),
        )),
        (None, None) => Line::from("connecting..."),
        (None, Some(_)) if v.seconds == 0.0 => Line::from("connected; rates after the next scrape"),
        (None, Some(_)) => Line::from(Span::styled(
            format!("connected; rates over the last {:.1}s", v.seconds),
            Style::new().fg(Color::Green),
        )),
    };
    vec![Line::from(head), second]
}

fn process_line(v: &View) -> Line<'static> {
    let cpu = match v.cpu_cores {
        Some(c) => format!("{:.1}%", c * 100.0),
        None => "-".into(),
    };
    Line::from(format!(
        "process: cpu {cpu}  rss {}  open fds {}  ingest in flight {}  overloaded/s {}",
        bytes(v.rss_bytes),
        count(v.open_fds),
        count(v.in_flight),
        per_s(v.overloaded_per_s),
    ))
}

fn header(cells: &[&'static str]) -> Row<'static> {
    Row::new(cells.to_vec()).style(Style::new().add_modifier(Modifier::BOLD))
}

fn producer_table(v: &View) -> Table<'static> {
    let rows: Vec<Row> = v
        .producers
        .iter()
        .map(|p| {
            Row::new(vec![
                p.name.clone(),
                per_s(p.received_per_s),
                per_s(p.throttled_per_s),
                per_s(p.duplicate_per_s),
            ])
        })
        .collect();
    Table::new(
        rows,
        [
            Constraint::Length(20),
            Constraint::Length(10),
            Constraint::Length(12),
            Constraint::Length(12),
        ],
    )
    .header(header(&[
        "producer",
        "events/s",
        "throttled/s",
        "duplicate/s",
    ]))
    .block(Block::new().borders(Borders::TOP).title(" producers "))
}

fn rejected_line(v: &View) -> Line<'static> {
    let mut reasons: Vec<String> = v
        .rejected
        .iter()
        .filter(|(_, r)| r.is_some_and(|r| r > 0.0))
        .map(|(reason, r)| format!("{reason} {}", per_s(*r)))
        .collect();
    if reasons.is_empty() {
        reasons.push("none".into());
    }
    Line::from(format!(
        "rejected/s (all producers) {}: {}",
        per_s(v.rejected_per_s),
        reasons.join(", ")
    ))
}

fn partner_table(v: &View) -> Table<'static> {
    let rows: Vec<Row> = v.partners.iter().map(partner_cells).collect();
    Table::new(
        rows,
        [
            Constraint::Length(16),
            Constraint::Length(5),
            Constraint::Length(9),
            Constraint::Length(12),
            Constraint::Length(10),
            Constraint::Length(9),
            Constraint::Length(6),
            Constraint::Length(8),
            Constraint::Length(11),
            Constraint::Length(5),
            Constraint::Length(8),
        ],
    )
    .header(header(&[
        "partner",
        "mode",
        "routed/s",
        "delivered/s",
        "dropped/s",
        "failed/s",
        "dead",
        "backlog",
        "bytes",
        "full",
        "ack age",
    ]))
    .row_highlight_style(Style::new().add_modifier(Modifier::REVERSED))
    .highlight_symbol("> ")
    .block(Block::new().borders(Borders::TOP).title(" partners "))
}

fn partner_cells(p: &PartnerRow) -> Row<'static> {
    let full = match (p.backlog_bytes, p.max_bytes) {
        (Some(b), Some(m)) if m > 0.0 => format!("{:.0}%", b / m * 100.0),
        _ => "-".into(),
    };
    let failing = p.failed_per_s.is_some_and(|f| f > 0.0);
    let backlog = count(p.backlog_events);
    let row = Row::new(vec![
        p.name.clone(),
        p.mode.to_string(),
        per_s(p.routed_per_s),
        per_s(p.delivered_per_s),
        per_s(p.dropped_per_s),
        per_s(p.failed_per_s),
        count(p.dead_letters),
        backlog,
        bytes(p.backlog_bytes),
        full,
        seconds(p.delivered_age_s),
    ]);
    if failing {
        row.style(Style::new().fg(Color::Red))
    } else {
        row
    }
}

fn detail_table(p: Option<&PartnerRow>) -> Table<'static> {
    let title = match p {
        Some(p) => format!(" drops of {} by reason (↑/↓ for another partner) ", p.name),
        None => " drops by reason ".into(),
    };
    let rows: Vec<Row> = p
        .map(|p| {
            p.drops
                .iter()
                .map(|(reason, r, total)| {
                    Row::new(vec![reason.clone(), per_s(*r), count(Some(*total))])
                })
                .collect()
        })
        .unwrap_or_default();
    Table::new(
        rows,
        [
            Constraint::Length(24),
            Constraint::Length(10),
            Constraint::Length(12),
        ],
    )
    .header(header(&["reason", "dropped/s", "since start"]))
    .block(Block::new().borders(Borders::TOP).title(title))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ratatui::backend::TestBackend;
    use ratatui::Terminal;
    use std::time::{Duration, Instant};

    #[test]
    fn units() {
        assert_eq!(per_s(Some(2.25)), "2.2");
        assert_eq!(per_s(None), "-");
        assert_eq!(bytes(Some(512.0)), "512 B");
        assert_eq!(bytes(Some(1536.0)), "1.5 KiB");
        assert_eq!(bytes(Some(20.0 * 1024.0 * 1024.0)), "20.0 MiB");
        assert_eq!(seconds(Some(0.25)), "250ms");
        assert_eq!(seconds(Some(3.0)), "3.0s");
        assert_eq!(
            clock(SystemTime::UNIX_EPOCH + Duration::from_secs(3661)),
            "01:01:01 UTC"
        );
    }

    fn screen(st: &State) -> String {
        let mut t = Terminal::new(TestBackend::new(120, 30)).unwrap();
        t.draw(|f| draw(f, st)).unwrap();
        let buf = t.backend().buffer().clone();
        let mut s = String::new();
        for y in 0..buf.area.height {
            for x in 0..buf.area.width {
                s.push_str(buf[(x, y)].symbol());
            }
            s.push('\n');
        }
        s
    }

    #[test]
    fn draws_rates_selection_and_outage() {
        let text = "adgate_events_received_total{producer=\"web\"} 10\n\
            adgate_events_routed_total{partner=\"acme\"} 0\n\
            adgate_outbox_events{partner=\"acme\"} 3\n\
            adgate_events_dropped_total{partner=\"acme\",reason=\"consent\"} 4\n\
            adgate_events_routed_total{partner=\"beta\"} 0\n\
            adgate_events_dropped_total{partner=\"beta\",reason=\"minor_unknown\"} 9\n";
        let base = Instant::now();
        let t0 = SystemTime::UNIX_EPOCH;
        let mut st = State::new("http://gw/metrics".into(), Duration::from_secs(1));
        st.scraped(Ok(super::super::parse(text, base).unwrap()), t0);
        let later = text.replace("{producer=\"web\"} 10", "{producer=\"web\"} 30");
        st.scraped(
            Ok(super::super::parse(&later, base + Duration::from_secs(2)).unwrap()),
            t0 + Duration::from_secs(2),
        );
        let s = screen(&st);
        let web = s
            .lines()
            .find(|l| l.trim_start().starts_with("web"))
            .unwrap();
        assert_eq!(web.split_whitespace().nth(1), Some("10.0"), "{s}");
        assert!(s.contains("drops of acme") && s.contains("consent"), "{s}");
        st.key(super::super::Key::Down);
        let s = screen(&st);
        assert!(
            s.contains("drops of beta") && s.contains("minor_unknown"),
            "{s}"
        );
        st.scraped(
            Err("connection refused".into()),
            t0 + Duration::from_secs(3),
        );
        let s = screen(&st);
        assert!(
            s.contains("unreachable since 00:00:03 UTC (connection refused)"),
            "{s}"
        );
        st.key(super::super::Key::Pause);
        assert!(screen(&st).contains("PAUSED"));
    }
}
