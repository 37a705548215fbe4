//! rollcall's integration tests, one binary (as hickory-dns keeps them): each module drives the
//! real server through real sockets or the real binary.

mod acl;
mod autopath;
mod cache;
mod cli;
mod corefile_reload;
mod dashboard;
mod eureka_clients;
mod eureka_dns;
mod eureka_replication;
mod forward;
mod fuzz;
mod golden;
mod hosts;
mod http;
mod k8s_external;
mod kube_deploy;
mod kube_outage;
mod kube_setup;
mod kube_startup;
mod kube_support;
mod kube_watch;
mod kubeadm_pod;
mod loadbalance;
mod loop_detect;
mod metrics;
mod netns;
mod probes;
mod reload;
mod resolver;
mod rewrite;
mod setup_tables;
mod small_plugins;
mod support;
mod template;
mod transport;
