//! ExternalName targets outside the plugin's zones: the A/AAAA of the target are asked of the
//! rest of the chain (`next`: `forward` and whatever follows kubernetes) and appended to the
//! CNAME, so the client gets the whole chain in one reply, as CoreDNS's `kubernetes` does.
//!
//! Only this path waits (a boxed future); every in-zone answer stays a ready one. The rest of
//! the chain never comes back to kubernetes, so the one external hop cannot loop; in-zone hops
//! before it are bounded by `resolve`'s own depth limit. When the target cannot be resolved
//! (an error, or an rcode other than NOERROR), the reply is the CNAME alone, as today, and the
//! client's resolver decides.

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{Name, RData, RecordType};

use super::Kubernetes;
use crate::contract::{Next, PluginFuture, Query, Reply, fqdn_lower};

impl Kubernetes {
    /// The target to ask the rest of the chain for: the reply to an A/AAAA question ends in a
    /// CNAME (only ExternalName Services write one) whose target is outside every zone here.
    pub(super) fn external_target(&self, query: &Query, reply: &Reply) -> Option<Name> {
        if !matches!(query.qtype, RecordType::A | RecordType::AAAA)
            || reply.rcode != ResponseCode::NoError
        {
            return None;
        }
        let RData::CNAME(target) = &reply.answers.last()?.data else {
            return None;
        };
        let lower = fqdn_lower(&target.0);
        self.zone_of(&lower).is_none().then(|| target.0.clone())
    }
}

/// `reply` (ending in the CNAME to `target`) completed with the target's records from `next`.
pub(super) fn through_chain<'a>(
    mut reply: Reply,
    target: Name,
    query: &'a Query,
    next: Next<'a>,
) -> PluginFuture<'a> {
    PluginFuture::boxed(async move {
        // Same type, transport and size as the client's question, so `forward` asks upstream
        // as it would for the target itself (over TCP when the client came over TCP).
        let sub = query.with_name(target);
        if let Ok(chased) = Next::serve(next, &sub).await
            && chased.rcode == ResponseCode::NoError
        {
            // A truncated upstream answer leaves the client to retry over TCP; otherwise the
            // dispatcher sets TC only if the whole chain does not fit the client's size.
            reply.truncated |= chased.truncated;
            reply.answers.extend(chased.answers);
        }
        Ok(reply)
    })
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;
    use std::sync::{Arc, Mutex};

    use registry::store::{ClusterObject, ServiceKind, ServiceRecord, StoreWriter};

    use super::*;
    use crate::contract::{Plugin, PluginResult};
    use crate::dns::records;
    use crate::plugin::kubernetes::Config;
    use crate::plugin::testing;

    /// The rest of the chain: answers A with 192.0.2.1 (or `fails`), recording the names asked.
    struct Upstream {
        fails: bool,
        asked: Mutex<Vec<String>>,
    }

    impl Plugin for Upstream {
        fn name(&self) -> &'static str {
            "upstream"
        }

        fn serve<'a>(&'a self, query: &'a Query, _next: Next<'a>) -> PluginFuture<'a> {
            self.asked.lock().unwrap().push(query.lower.clone());
            if self.fails {
                return PluginFuture::ready(Err(testing::upstream_failure("down")));
            }
            let mut reply = Reply::new(ResponseCode::NoError, "upstream");
            reply.answers.push(records::address(
                &query.name,
                300,
                Ipv4Addr::new(192, 0, 2, 1).into(),
            ));
            PluginFuture::ready(Ok(reply))
        }
    }

    fn service(name: &str, kind: ServiceKind) -> ClusterObject {
        ClusterObject::Service(ServiceRecord {
            name: name.into(),
            namespace: "apps".into(),
            kind,
            ports: Vec::new(),
            external_ips: Box::default(),
        })
    }

    fn kubernetes() -> Kubernetes {
        let writer = StoreWriter::new();
        writer.upsert(service(
            "web",
            ServiceKind::ClusterIp(vec![Ipv4Addr::new(10, 96, 0, 1).into()]),
        ));
        writer.upsert(service(
            "alias",
            ServiceKind::ExternalName("web.apps.svc.cluster.local".into()),
        ));
        writer.upsert(service(
            "ext",
            ServiceKind::ExternalName("www.example.org".into()),
        ));
        let config = Config::new(vec!["cluster.local.".into()]);
        Kubernetes::new(config, writer.reader()).unwrap()
    }

    async fn ask(name: &str, qtype: RecordType, fails: bool) -> (bool, PluginResult, Vec<String>) {
        let k = kubernetes();
        let upstream = Arc::new(Upstream {
            fails,
            asked: Mutex::default(),
        });
        let chain: Vec<Arc<dyn Plugin>> = vec![upstream.clone()];
        let query = Query::new(Name::from_ascii(name).unwrap(), qtype);
        let future = k.serve(&query, Next::new(&chain));
        let ready = matches!(future, PluginFuture::Ready(_));
        let result = future.await;
        let asked = upstream.asked.lock().unwrap().clone();
        (ready, result, asked)
    }

    #[tokio::test]
    async fn in_zone_targets_stay_ready_futures() {
        let (ready, result, asked) =
            ask("alias.apps.svc.cluster.local.", RecordType::A, false).await;
        assert!(
            ready,
            "an in-zone chase is answered from memory, no boxed future"
        );
        assert!(asked.is_empty());
        assert_eq!(
            testing::answer_texts(&result),
            [
                "alias.apps.svc.cluster.local. 5 IN CNAME web.apps.svc.cluster.local.",
                "web.apps.svc.cluster.local. 5 IN A 10.96.0.1",
            ]
        );
    }

    #[tokio::test]
    async fn outside_targets_are_asked_of_the_rest_of_the_chain() {
        let (ready, result, asked) = ask("ext.apps.svc.cluster.local.", RecordType::A, false).await;
        assert!(!ready);
        assert_eq!(asked, ["www.example.org."]);
        assert_eq!(
            testing::answer_texts(&result),
            [
                "ext.apps.svc.cluster.local. 5 IN CNAME www.example.org.",
                "www.example.org. 300 IN A 192.0.2.1",
            ]
        );
        // Only A and AAAA are chased: other types get the CNAME, from memory.
        let (ready, result, asked) =
            ask("ext.apps.svc.cluster.local.", RecordType::TXT, false).await;
        assert!(ready);
        assert!(asked.is_empty());
        assert_eq!(testing::answer_texts(&result).len(), 1);
    }

    #[tokio::test]
    async fn a_failing_chain_leaves_the_cname_alone() {
        let (_, result, asked) = ask("ext.apps.svc.cluster.local.", RecordType::AAAA, true).await;
        assert_eq!(asked, ["www.example.org."]);
        let reply = result.unwrap();
        assert_eq!(reply.rcode, ResponseCode::NoError);
        assert_eq!(reply.answers.len(), 1);
        assert_eq!(reply.answers[0].record_type(), RecordType::CNAME);
    }
}
