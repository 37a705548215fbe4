//! Bytes in, bytes out: decode the message, pick the server block by longest zone, run its
//! chain, and encode the reply. The only place where a failure becomes an RCODE.

use std::net::SocketAddr;
use std::sync::Arc;

use hickory_proto::op::{
    Edns, Header, Message, MessageType, Metadata, OpCode, ResponseCode, emit_message_parts,
};
use hickory_proto::rr::rdata::opt::{EdnsCode, EdnsOption, NSIDPayload};
use hickory_proto::rr::{DNSClass, Record, RecordType};
use hickory_proto::serialize::binary::{BinDecodable, BinDecoder, BinEncodable, BinEncoder};

use crate::contract::{
    EDNS_PAYLOAD, Next, Plugin, PluginError, PluginResult, Query, Reply, Transport, WireOptions,
    fqdn_lower, in_zone,
};
use crate::metrics::{Observation, ZoneMetrics};

/// An OPT record before its options: root name, type, class, TTL, RDLENGTH.
const OPT_LEN: u16 = 11;

/// One server block's chain.
pub type Chain = Arc<[Arc<dyn Plugin>]>;

/// Routes queries arriving on one listen address to the server blocks bound there.
pub struct Dispatcher {
    /// Longest zone first.
    routes: Vec<Route>,
    /// Counters for queries no route takes (zone "dropped"), when any block has `prometheus`.
    dropped: Option<Arc<ZoneMetrics>>,
    /// Some route or `dropped` counts queries: only then is the clock read.
    counting: bool,
}

/// A query that passed [`Dispatcher::check`]: its view, the reply's OPT, and its route (none:
/// outside every zone on this address).
type Checked<'a> = (Query, Option<Edns>, Option<&'a Route>);

/// One zone of one server block on this address.
pub struct Route {
    pub zone: String,
    pub chain: Chain,
    /// The block's `prometheus` counters for this zone, if it has the directive.
    pub metrics: Option<Arc<ZoneMetrics>>,
    /// The block's payload size and classes (`bufsize`, `chaos`).
    pub options: WireOptions,
}

impl Dispatcher {
    /// Routes (zone, chain), longest zone first, counting nothing.
    pub fn new(routes: Vec<(String, Chain)>) -> Self {
        Dispatcher {
            routes: routes
                .into_iter()
                .map(|(zone, chain)| Route {
                    zone,
                    chain,
                    metrics: None,
                    options: WireOptions::default(),
                })
                .collect(),
            dropped: None,
            counting: false,
        }
    }

    /// Routes with their metrics, and the counters for queries that match no zone.
    pub fn with_metrics(routes: Vec<Route>, dropped: Option<Arc<ZoneMetrics>>) -> Self {
        let counting = dropped.is_some() || routes.iter().any(|r| r.metrics.is_some());
        Dispatcher {
            routes,
            dropped,
            counting,
        }
    }

    fn route(&self, name: &str) -> Option<&Route> {
        self.routes.iter().find(|r| in_zone(name, &r.zone))
    }

    /// Where a query for `name` is counted: its route's block (if it has `prometheus`), or
    /// "dropped" when no zone matches.
    fn metrics_for<'a>(&'a self, route: Option<&'a Route>) -> Option<&'a ZoneMetrics> {
        match route {
            Some(r) => r.metrics.as_deref(),
            None => self.dropped.as_deref(),
        }
    }

    /// The reply to one wire message, or `None` when nothing should be sent (not a DNS query,
    /// or a response: never answer those, to avoid reflection loops).
    pub async fn respond(
        &self,
        bytes: &[u8],
        src: SocketAddr,
        transport: Transport,
    ) -> Option<Vec<u8>> {
        // One clock read per query, and only when something counts queries on this address.
        let started = self.counting.then(std::time::Instant::now);
        let header = Header::read(&mut BinDecoder::new(bytes)).ok()?;
        if header.metadata.message_type == MessageType::Response {
            return None;
        }
        let request = match Message::from_vec(bytes) {
            Ok(request) => request,
            Err(error) => {
                tracing::debug!(%src, %error, "malformed query");
                return Some(bare_error(&header.metadata, ResponseCode::FormErr));
            }
        };
        let (query, edns, route) = match self.check(&request, src, transport) {
            Ok(ok) => ok,
            Err((rcode, edns)) => {
                let reply = error_reply(rcode);
                let out = encode(&request, &reply, edns.as_ref(), transport, EDNS_PAYLOAD);
                if let Some(started) = started {
                    // Counted under the zone the question names, as if the chain had run.
                    let question = request.queries.first();
                    let route = question.and_then(|q| self.route(&fqdn_lower(q.name())));
                    if let Some(m) = self.metrics_for(route) {
                        m.record(&Observation {
                            transport,
                            ipv6: src.ip().to_canonical().is_ipv6(),
                            qtype: question.map_or(0, |q| u16::from(q.query_type())),
                            dnssec_ok: request.edns.as_ref().is_some_and(|e| e.flags().dnssec_ok),
                            request_len: bytes.len(),
                            response_len: out.len(),
                            rcode: u16::from(reply.rcode),
                            plugin: reply.plugin,
                            elapsed: started.elapsed(),
                        });
                    }
                }
                return Some(out);
            }
        };
        let result = match route {
            Some(route) => Next::new(&route.chain).serve(&query).await,
            None => Ok(error_reply(ResponseCode::Refused)),
        };
        let reply = match result {
            Ok(reply) => reply,
            Err(PluginError::Dropped(why)) => {
                tracing::debug!(qname = %query.name, %src, why, "query dropped");
                return None;
            }
            Err(error) => {
                tracing::debug!(qname = %query.name, qtype = %query.qtype, %error, "chain failed");
                error_reply(error.rcode())
            }
        };
        let out = encode(&request, &reply, edns.as_ref(), transport, query.max_size);
        if let (Some(started), Some(m)) = (started, self.metrics_for(route)) {
            m.record(&Observation {
                transport,
                ipv6: src.ip().to_canonical().is_ipv6(),
                qtype: u16::from(query.qtype),
                dnssec_ok: query.dnssec_ok,
                request_len: bytes.len(),
                response_len: out.len(),
                rcode: u16::from(reply.rcode),
                plugin: reply.plugin,
                elapsed: started.elapsed(),
            });
        }
        Some(out)
    }

    /// Validate what the chain cannot answer, pick the route, and build the query view.
    fn check(
        &self,
        request: &Message,
        src: SocketAddr,
        transport: Transport,
    ) -> Result<Checked<'_>, (ResponseCode, Option<Edns>)> {
        let client_edns = request.edns.as_ref();
        // The OPT of the reply advertises the payload size of the block that answers (its
        // `bufsize`), or the default before a block is known.
        let response_edns = |payload: u16| {
            client_edns.map(|_| {
                let mut e = Edns::new();
                e.set_max_payload(payload);
                e
            })
        };
        if client_edns.is_some_and(|e| e.version() > 0) {
            return Err((ResponseCode::BADVERS, response_edns(EDNS_PAYLOAD)));
        }
        if request.metadata.op_code != OpCode::Query {
            return Err((ResponseCode::NotImp, response_edns(EDNS_PAYLOAD)));
        }
        let [question] = request.queries.as_slice() else {
            return Err((ResponseCode::FormErr, response_edns(EDNS_PAYLOAD)));
        };
        let name = question.name().clone();
        let lower = fqdn_lower(&name);
        let route = self.route(&lower);
        let default_options;
        let options = match route {
            Some(r) => &r.options,
            None => {
                default_options = WireOptions::default();
                &default_options
            }
        };
        let mut edns = response_edns(options.payload);
        // RFC 5001: the identifier goes only to a client that asked for it.
        if let (Some(e), Some(nsid)) = (edns.as_mut(), options.nsid.as_ref())
            && client_edns.is_some_and(|c| c.options().get(EdnsCode::NSID).is_some())
            && let Ok(payload) = NSIDPayload::new(nsid.clone())
        {
            e.options_mut().insert(EdnsOption::NSID(payload));
        }
        let qtype = question.query_type();
        if matches!(qtype, RecordType::AXFR | RecordType::IXFR) {
            return Err((ResponseCode::Refused, edns));
        }
        let qclass = question.query_class();
        // Only IN is served, and CH where the block has `chaos` to answer it.
        if qclass != DNSClass::IN && !(qclass == DNSClass::CH && options.chaos) {
            return Err((ResponseCode::Refused, edns));
        }
        let max_size = match transport {
            Transport::Tcp => u16::MAX,
            Transport::Udp => {
                client_edns.map_or(512, |e| e.max_payload().clamp(512, options.payload))
            }
        };
        let query = Query {
            lower,
            name,
            qtype,
            qclass,
            id: request.metadata.id,
            src,
            transport,
            dnssec_ok: client_edns.is_some_and(|e| e.flags().dnssec_ok),
            recursion_desired: request.metadata.recursion_desired,
            checking_disabled: request.metadata.checking_disabled,
            max_size,
        };
        Ok((query, edns, route))
    }
}

/// Run `query` through a chain in-process (tests, and CNAME chasing across plugins).
pub async fn serve_chain(chain: &[Arc<dyn Plugin>], query: &Query) -> PluginResult {
    Next::new(chain).serve(query).await
}

fn error_reply(rcode: ResponseCode) -> Reply {
    Reply::new(rcode, "dispatcher")
}

fn encode(
    request: &Message,
    reply: &Reply,
    edns: Option<&Edns>,
    transport: Transport,
    max_size: u16,
) -> Vec<u8> {
    let mut metadata = Metadata::response_from_request(&request.metadata);
    metadata.response_code = reply.rcode;
    metadata.authoritative = reply.authoritative;
    metadata.truncation = reply.truncated;
    metadata.recursion_available = true;
    if let Some(relayed) = reply.relayed {
        metadata.recursion_available = relayed.recursion_available;
        metadata.authentic_data = relayed.authentic_data;
    }
    let limit = match transport {
        Transport::Udp => max_size,
        Transport::Tcp => u16::MAX,
    };
    // The OPT record goes last, and a truncated answer must still carry it (RFC 6891 §7), so
    // its room is kept back while the sections are written; rollcall's OPT has no options.
    let opt = edns.map(|e| {
        let mut e = e.clone();
        e.set_rcode_high(metadata.response_code.high());
        Record::from(&e)
    });
    let opt_room = edns.map_or(0, |e| {
        let options: usize = e
            .options()
            .options
            .iter()
            .map(|(_, o)| 4 + usize::from(o.len()))
            .sum();
        OPT_LEN.saturating_add(u16::try_from(options).unwrap_or(u16::MAX))
    });
    let emit = |additionals: &[Record]| -> Result<(Vec<u8>, bool), hickory_proto::ProtoError> {
        let mut buf = Vec::with_capacity(512);
        let mut encoder = BinEncoder::new(&mut buf);
        encoder.set_max_size(limit.saturating_sub(opt_room));
        let header = emit_message_parts(
            &metadata,
            &mut request.queries.iter(),
            &mut reply.answers.iter(),
            &mut reply.authority.iter(),
            &mut additionals.iter(),
            None,
            None,
            &mut encoder,
        )?;
        let mut additional_count = header.counts.additionals;
        if let Some(opt) = &opt {
            encoder.set_max_size(limit);
            opt.emit(&mut encoder)?;
            additional_count += 1;
        }
        // A record that did not fit was rolled back by moving the offset only: the bytes it
        // wrote are still in the buffer and must not be sent.
        let end = encoder.offset();
        buf.truncate(end);
        if opt.is_some()
            && let Some(arcount) = buf.get_mut(10..12)
        {
            arcount.copy_from_slice(&additional_count.to_be_bytes());
        }
        Ok((buf, header.metadata.truncation))
    };
    let encoded = match emit(&reply.additionals) {
        // Additional data is optional (RFC 2181 §9): drop it before declaring the answer truncated.
        Ok((_, true)) if !reply.truncated && !reply.additionals.is_empty() => match emit(&[]) {
            Ok((buf, false)) => Ok(buf),
            Ok((_, true)) => emit(&reply.additionals).map(|(buf, _)| buf),
            Err(e) => Err(e),
        },
        other => other.map(|(buf, _)| buf),
    };
    match encoded {
        Ok(buf) => buf,
        Err(error) => {
            tracing::warn!(%error, "could not encode a reply; answering SERVFAIL");
            bare_error(&request.metadata, ResponseCode::ServFail)
        }
    }
}

/// A header-only answer, for a message whose body could not be decoded or encoded.
fn bare_error(request: &Metadata, rcode: ResponseCode) -> Vec<u8> {
    let mut metadata = Metadata::response_from_request(request);
    metadata.response_code = rcode;
    let mut buf = Vec::with_capacity(12);
    let mut encoder = BinEncoder::new(&mut buf);
    let empty: [Record; 0] = [];
    let _ = emit_message_parts(
        &metadata,
        &mut empty.iter(),
        &mut empty.iter(),
        &mut empty.iter(),
        &mut empty.iter(),
        None,
        None,
        &mut encoder,
    );
    buf
}
