//! Test plumbing shared by the small plugins' unit tests: build one plugin from Corefile text
//! and run it in front of a stub that answers NOERROR, so "went down the chain" is visible.

use std::path::Path;
use std::sync::{Arc, Mutex};

use hickory_proto::op::ResponseCode;

use crate::contract::{Next, Plugin, PluginFuture, PluginResult, Query, Reply};

/// The rest of the chain: records what reached it and answers with `reply`.
pub struct Rest {
    pub asked: Mutex<Vec<String>>,
    pub reply: Reply,
}

impl Default for Rest {
    fn default() -> Self {
        Rest {
            asked: Mutex::new(Vec::new()),
            reply: Reply::new(ResponseCode::NoError, "rest"),
        }
    }
}

impl Plugin for Rest {
    fn name(&self) -> &'static str {
        "rest"
    }

    fn serve<'a>(&'a self, query: &'a Query, _next: Next<'a>) -> PluginFuture<'a> {
        self.asked.lock().unwrap().push(query.lower.clone());
        PluginFuture::ready(Ok(self.reply.clone()))
    }
}

/// The first plugin of a `.:53` block with these directives, and the block's plan.
pub fn plugin(directives: &str) -> Arc<dyn Plugin> {
    let setup = block(directives);
    Arc::clone(&setup.blocks[0].chain[0])
}

pub fn block(directives: &str) -> crate::setup::Setup {
    let text = format!(".:53 {{\n{directives}\n}}\n");
    let options = corefile::ParseOptions::with_env(|_| None);
    crate::load_corefile_str(&text, "Corefile", Path::new("/tmp"), &options, 53)
        .unwrap_or_else(|e| panic!("{text}: {e}"))
}

/// The first error setting up these directives, as `check` prints it.
pub fn error(directives: &str) -> String {
    let text = format!(".:53 {{\n{directives}\n}}\n");
    let options = corefile::ParseOptions::with_env(|_| None);
    match crate::load_corefile_str(&text, "Corefile", Path::new("/tmp"), &options, 53) {
        Ok(_) => panic!("{text} set up"),
        Err(e) => e.to_string(),
    }
}

/// Run `plugin` in front of `rest`; the result and whether the query went down the chain.
pub async fn ask_with(plugin: &Arc<dyn Plugin>, query: &Query, rest: Rest) -> (PluginResult, bool) {
    let rest = Arc::new(rest);
    let chain: Vec<Arc<dyn Plugin>> = vec![rest.clone()];
    let result = plugin.serve(query, Next::new(&chain)).await;
    let passed_on = !rest.asked.lock().unwrap().is_empty();
    (result, passed_on)
}

pub async fn ask(plugin: &Arc<dyn Plugin>, query: &Query) -> (PluginResult, bool) {
    ask_with(plugin, query, Rest::default()).await
}

/// The answer section as presentation text (empty for an error).
pub fn answer_texts(result: &PluginResult) -> Vec<String> {
    result
        .as_ref()
        .map(|reply| reply.answers.iter().map(ToString::to_string).collect())
        .unwrap_or_default()
}

/// A failure a test stub reports, by its message.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Failure(pub &'static str);

/// An upstream failure with `message`, as a stub of the rest of the chain returns it.
pub fn upstream_failure(message: &'static str) -> crate::contract::PluginError {
    crate::contract::PluginError::upstream("test", Failure(message))
}
