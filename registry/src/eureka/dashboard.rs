//! The dashboard at `GET /`, like Spring Cloud's Eureka page: system status (leases,
//! renewals, self-preservation), and the registered applications with their instances, status
//! and lease age. One self-contained page (`dashboard.html`) that re-fetches itself every few
//! seconds. Every string that comes from a client is HTML-escaped.

use std::fmt::Write as _;

use super::EurekaRegistry;
use super::model::Status;

const TEMPLATE: &str = include_str!("dashboard.html");

/// Appends `s` escaped for HTML text and double- or single-quoted attributes.
pub(crate) fn escape_into(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
}

fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    escape_into(&mut out, s);
    out
}

/// `2023-11-14 22:13:20 UTC`.
fn utc(ms: u64) -> String {
    let secs = ms / 1000;
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60
    )
}

/// `4s`, `3m 02s`, `5h 07m`, `2d 03h`.
fn span(ms: u64) -> String {
    let s = ms / 1000;
    if s < 60 {
        format!("{s}s")
    } else if s < 3600 {
        format!("{}m {:02}s", s / 60, s % 60)
    } else if s < 86_400 {
        format!("{}h {:02}m", s / 3600, (s / 60) % 60)
    } else {
        format!("{}d {:02}h", s / 86_400, (s / 3600) % 24)
    }
}

fn kv(out: &mut String, k: &str, v: &str) {
    let _ = write!(out, "<tr><th>{}</th><td>{}</td></tr>", esc(k), esc(v));
}

fn yes_no(b: bool) -> &'static str {
    if b { "yes" } else { "no" }
}

/// The dashboard page.
pub(crate) fn render(registry: &EurekaRegistry) -> String {
    let now = registry.now();
    let stats = registry.stats();
    let apps = registry.dashboard_apps();
    let mut c = String::with_capacity(4096 + stats.instances * 400);

    if stats.self_preservation_active() {
        c.push_str(
            "<div class=\"banner emergency\">EMERGENCY! EUREKA MAY BE INCORRECTLY CLAIMING INSTANCES ARE UP WHEN THEY'RE NOT. \
             RENEWALS ARE LESSER THAN THRESHOLD AND HENCE THE INSTANCES ARE NOT BEING EXPIRED JUST TO BE SAFE.</div>",
        );
    } else if !stats.self_preservation_enabled {
        c.push_str(
            "<div class=\"banner notice\">THE SELF PRESERVATION MODE IS TURNED OFF. THIS MAY NOT PROTECT INSTANCE EXPIRY \
             IN CASE OF NETWORK/OTHER PROBLEMS.</div>",
        );
    }

    c.push_str("<h2>System status</h2><table class=\"kv\">");
    kv(&mut c, "Current time", &utc(now));
    kv(&mut c, "Uptime", &span(stats.uptime.as_millis() as u64));
    kv(
        &mut c,
        "Self-preservation",
        if stats.self_preservation_enabled {
            "enabled"
        } else {
            "disabled"
        },
    );
    kv(
        &mut c,
        "Self-preservation mode active",
        yes_no(stats.self_preservation_active()),
    );
    kv(
        &mut c,
        "Lease expiration enabled",
        yes_no(stats.lease_expiration_enabled),
    );
    kv(
        &mut c,
        "Renews threshold (per min)",
        &stats.renews_threshold.to_string(),
    );
    kv(
        &mut c,
        "Renews (last min)",
        &stats.renews_last_min.to_string(),
    );
    kv(
        &mut c,
        "Expected clients",
        &stats.expected_clients.to_string(),
    );
    kv(&mut c, "Applications", &stats.apps.to_string());
    kv(&mut c, "Instances", &stats.instances.to_string());
    kv(
        &mut c,
        "Registry version (versions__delta)",
        &stats.version.to_string(),
    );
    kv(
        &mut c,
        "Changes in the delta queue",
        &stats.delta_queue_len.to_string(),
    );
    c.push_str("</table>");

    c.push_str("<h2>Instances currently registered with Eureka</h2>");
    if apps.is_empty() {
        c.push_str("<p class=\"muted\">No instances available</p>");
    } else {
        c.push_str("<table><tr><th>Application</th><th>Status</th><th>Instances</th></tr>");
        for (name, items) in &apps {
            let mut counts = [0usize; 5];
            for (rec, _) in items {
                counts[rec.info.status.index()] += 1;
            }
            let summary: Vec<String> = Status::ALL
                .iter()
                .rev()
                .filter(|s| counts[s.index()] > 0)
                .map(|s| {
                    format!(
                        "<span class=\"st-{}\">{}</span> ({})",
                        s.as_str(),
                        s.as_str(),
                        counts[s.index()]
                    )
                })
                .collect();
            let _ = write!(
                c,
                "<tr><td><b>{}</b></td><td>{}</td><td><table class=\"inst\">\
                 <tr><th>Instance</th><th>Address</th><th>Status</th><th>Last renewal</th><th>Lease</th><th>Registered</th></tr>",
                esc(name),
                summary.join(", ")
            );
            for (rec, slot) in items {
                let i = &rec.info;
                c.push_str("<tr><td>");
                match i.status_page_url.as_deref() {
                    Some(url) if url.starts_with("http://") || url.starts_with("https://") => {
                        let _ = write!(
                            c,
                            "<a href=\"{}\" rel=\"noopener noreferrer\">{}</a>",
                            esc(url),
                            esc(&i.instance_id)
                        );
                    }
                    _ => escape_into(&mut c, &i.instance_id),
                }
                let mut addr = format!("{} ({})", i.host_name, i.ip_addr);
                if i.port_enabled {
                    let _ = write!(addr, " :{}", i.port);
                }
                if i.secure_port_enabled {
                    let _ = write!(addr, " :{} (secure)", i.secure_port);
                }
                let _ = write!(
                    c,
                    "</td><td>{}</td><td><span class=\"st-{}\">{}</span>",
                    esc(&addr),
                    i.status.as_str(),
                    i.status.as_str()
                );
                if let Some(o) = rec.override_status {
                    let _ = write!(c, " <span class=\"muted\">(override {})</span>", o.as_str());
                }
                let last = slot.last_renewal_ms();
                let expires = slot.expires_at_ms();
                let lease = if slot.is_expired(now) {
                    format!(
                        "<span class=\"st-expired\">expired {} ago</span>",
                        span(now.saturating_sub(expires))
                    )
                } else {
                    format!("expires in {}", span(expires.saturating_sub(now)))
                };
                let _ = write!(
                    c,
                    "</td><td>{} ago</td><td>{} <span class=\"muted\">({}s lease)</span></td><td>{} ago</td></tr>",
                    span(now.saturating_sub(last)),
                    lease,
                    i.duration_secs,
                    span(now.saturating_sub(rec.registration_ms))
                );
            }
            c.push_str("</table></td></tr>");
        }
        c.push_str("</table>");
    }

    match TEMPLATE.split_once("{{CONTENT}}") {
        Some((head, tail)) => {
            let mut page = String::with_capacity(head.len() + c.len() + tail.len());
            page.push_str(head);
            page.push_str(&c);
            page.push_str(tail);
            page
        }
        None => c,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_spans() {
        assert_eq!(utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc(1_700_000_000_000), "2023-11-14 22:13:20 UTC");
        assert_eq!(utc(951_782_400_000), "2000-02-29 00:00:00 UTC");
        assert_eq!(span(4_999), "4s");
        assert_eq!(span(182_000), "3m 02s");
        assert_eq!(span(3_600_000 * 5 + 7 * 60_000), "5h 07m");
        assert_eq!(span(86_400_000 * 2 + 3_600_000 * 3), "2d 03h");
    }

    #[test]
    fn escaping() {
        assert_eq!(
            esc("<a href='x'>&\"</a>"),
            "&lt;a href=&#39;x&#39;&gt;&amp;&quot;&lt;/a&gt;"
        );
    }
}
