use std::fmt;
use std::sync::Arc;

type EnvLookup = dyn Fn(&str) -> Option<String> + Send + Sync;

/// Knobs for parsing. The environment lookup is injectable so that tests (and
/// embedders) do not have to mutate the process environment, which is global
/// and racy under parallel tests.
#[derive(Clone)]
pub struct ParseOptions {
    env: Arc<EnvLookup>,
}

impl ParseOptions {
    /// Reads `{$NAME}` / `{%NAME%}` values from the process environment.
    pub fn new() -> Self {
        Self::with_env(|name| std::env::var(name).ok())
    }

    pub fn with_env(f: impl Fn(&str) -> Option<String> + Send + Sync + 'static) -> Self {
        Self { env: Arc::new(f) }
    }

    pub(crate) fn env(&self, name: &str) -> Option<String> {
        (self.env)(name)
    }
}

impl Default for ParseOptions {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for ParseOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ParseOptions").finish_non_exhaustive()
    }
}
