//! Sources: everything that writes the cluster store. Each converts API objects to records with
//! [`convert`] and writes them through the store's one [`crate::store::StoreWriter`].

pub mod convert;
pub mod filter;
pub mod kube;
pub mod manifests;
pub mod selector;
