//! # reload
//!
//! Re-reads the Corefile while serving: every INTERVAL ± JITTER the running binary hashes the
//! Corefile's content (SHA512, as CoreDNS does; the content, never the mtime, because a
//! Kubernetes ConfigMap update swaps a symlink) and, when the hash changed, sets the new Corefile
//! up completely aside, waits for its sources to sync, and swaps it in without a gap in answering
//! (see [`crate::server::reload`]). A Corefile that does not parse or set up is logged with its
//! file:line and the running configuration keeps serving, unchanged; the same broken content is
//! not tried again, only a further change is. `SIGUSR1` reloads at once (as CoreDNS).
//!
//! ## Syntax
//! ```text
//! reload [INTERVAL] [JITTER]
//! ```
//! - `INTERVAL` (default `30s`, at least `2s`) and `JITTER` (default `15s`, at least `1s`) are
//!   CoreDNS's defaults and minimums; a JITTER above INTERVAL/2 is lowered to INTERVAL/2, as
//!   CoreDNS does. Each check waits a uniformly random time in INTERVAL ± JITTER.
//! - The directive configures the whole process, not the block: with `reload` in several blocks
//!   the first one (in Corefile order) sets the interval. A new Corefile without `reload` stops
//!   the watching (`SIGUSR1` still reloads).
//! - Only the Corefile's own text is hashed (as CoreDNS): an edit to an `import`ed file alone is
//!   not noticed until the Corefile changes or `SIGUSR1` arrives.
//! - Applies to `rollcall serve --corefile FILE`; the embedded example has no file to watch.
//! - Listen addresses the new Corefile keeps stay the same sockets, and `eureka`'s registrations
//!   carry over to the new configuration.
//!
//! ## Example
//! ```corefile
//! .:53 {
//!     reload 10s 5s
//!     kubernetes cluster.local
//! }
//! ```

use std::time::Duration;

use corefile::{Directive, Token};

use crate::contract::{Args, Outcome, ReloadConfig, SetupContext, SetupError, SetupResult};

/// CoreDNS's defaults and lower bounds.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(30);
pub const DEFAULT_JITTER: Duration = Duration::from_secs(15);
pub const MIN_INTERVAL: Duration = Duration::from_secs(2);
pub const MIN_JITTER: Duration = Duration::from_secs(1);

pub fn setup(ctx: &mut SetupContext<'_>, d: &Directive) -> SetupResult {
    let mut args = Args::new(d);
    args.no_block()?;
    let config = parse(&mut args)?;
    let earlier = ctx.server.get::<ReloadConfig>().is_some();
    if !earlier {
        ctx.server.insert(config);
    }
    Ok(Outcome::Configured(format!(
        "check the Corefile's SHA512 every {:?} ± {:?}{}",
        config.interval,
        config.jitter,
        if earlier {
            " (an earlier block's reload applies)"
        } else {
            ""
        }
    )))
}

/// `[INTERVAL] [JITTER]`.
fn parse(args: &mut Args<'_>) -> Result<ReloadConfig, SetupError> {
    let mut config = ReloadConfig {
        interval: DEFAULT_INTERVAL,
        jitter: DEFAULT_JITTER,
    };
    if let Some(interval) = args.next() {
        config.interval = at_least(args, interval, MIN_INTERVAL, "interval")?;
    }
    if let Some(jitter) = args.next() {
        config.jitter = at_least(args, jitter, MIN_JITTER, "jitter")?;
    }
    if let Some(extra) = args.peek() {
        return Err(args.error(
            extra,
            format!(
                "unexpected argument {:?} (reload [INTERVAL] [JITTER])",
                extra.text
            ),
        ));
    }
    config.jitter = config.jitter.min(config.interval / 2);
    Ok(config)
}

fn at_least(args: &Args<'_>, t: &Token, min: Duration, what: &str) -> Result<Duration, SetupError> {
    let value = args.duration(t)?;
    if value < min {
        return Err(args.error(
            t,
            format!("{what} must be at least {min:?}, found {:?}", t.text),
        ));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(line: &str) -> Result<ReloadConfig, String> {
        let corefile = corefile::parse_str(
            &format!(". {{\n{line}\n}}\n"),
            "Corefile",
            std::path::Path::new("."),
            &corefile::ParseOptions::default(),
        )
        .map_err(|e| e.to_string())?;
        let d = &corefile.blocks[0].directives[0];
        parse(&mut Args::new(d)).map_err(|e| e.to_string())
    }

    #[test]
    fn defaults_minimums_and_jitter_capped_at_half_the_interval() {
        assert_eq!(
            parsed("reload"),
            Ok(ReloadConfig {
                interval: DEFAULT_INTERVAL,
                jitter: DEFAULT_JITTER
            })
        );
        assert_eq!(
            parsed("reload 4s 3s"),
            Ok(ReloadConfig {
                interval: Duration::from_secs(4),
                jitter: Duration::from_secs(2)
            })
        );
        assert_eq!(
            parsed("reload 1s"),
            Err(r#"Corefile:2:8: reload: interval must be at least 2s, found "1s""#.into())
        );
        assert_eq!(
            parsed("reload 10s 5s 1s"),
            Err(
                r#"Corefile:2:15: reload: unexpected argument "1s" (reload [INTERVAL] [JITTER])"#
                    .into()
            )
        );
    }
}
