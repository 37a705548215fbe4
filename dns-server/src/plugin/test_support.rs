//! Helpers for plugin unit tests that build a plugin from Corefile text.

use std::path::Path;
use std::sync::Arc;

use super::{Plugin, PluginResult};

/// The first plugin of the chain of `.:53 { BODY }`, set up as `rollcall check` would.
pub(crate) fn first_plugin(body: &str) -> Arc<dyn Plugin> {
    let text = format!(".:53 {{\n{body}\n}}\n");
    let options = corefile::ParseOptions::with_env(|_| None);
    let setup = crate::load_corefile_str(&text, "Corefile", Path::new("/tmp"), &options, 53)
        .unwrap_or_else(|e| panic!("{text}: {e}"));
    Arc::clone(&setup.blocks[0].chain[0])
}

/// The answer section as presentation text.
pub(crate) fn answer_texts(result: &PluginResult) -> Vec<String> {
    result
        .as_ref()
        .map(|reply| reply.answers.iter().map(ToString::to_string).collect())
        .unwrap_or_default()
}
