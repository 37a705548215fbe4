//! A typed map of state that plugins of one server block (or of the whole configuration) share
//! without a field for it in a shared struct: one value per type, keyed by `TypeId`, as `http`'s
//! `Extensions` or CoreDNS's "plugins find each other through interfaces the consumer owns".
//!
//! The type of an entry says who owns it: a type defined by the plugin that reads it (the
//! consumer, e.g. `forward`'s `ForwardingLoop` switch that `loop` sets, or a provider trait such as
//! `autopath`'s `Arc<dyn NamespaceOf>` that `kubernetes` puts there), or a type of this contract
//! that the server reads (`Bind`, `WireOptions`, ...). Setup creates one map per server block and
//! one for the configuration; nothing here is read per query.

use std::any::{Any, TypeId};
use std::collections::HashMap;

#[derive(Default)]
pub struct Extensions {
    map: HashMap<TypeId, Box<dyn Any + Send + Sync>>,
}

impl Extensions {
    pub fn new() -> Self {
        Self::default()
    }

    /// Store `value`, returning the previous value of its type.
    pub fn insert<T: Any + Send + Sync>(&mut self, value: T) -> Option<T> {
        self.map
            .insert(TypeId::of::<T>(), Box::new(value))
            .and_then(|old| old.downcast::<T>().ok().map(|b| *b))
    }

    pub fn get<T: Any + Send + Sync>(&self) -> Option<&T> {
        self.map.get(&TypeId::of::<T>())?.downcast_ref::<T>()
    }

    pub fn get_mut<T: Any + Send + Sync>(&mut self) -> Option<&mut T> {
        self.map.get_mut(&TypeId::of::<T>())?.downcast_mut::<T>()
    }

    /// The value of type `T`, created with `make` the first time it is asked for.
    pub fn get_or_insert_with<T: Any + Send + Sync>(&mut self, make: impl FnOnce() -> T) -> &mut T {
        let slot = self
            .map
            .entry(TypeId::of::<T>())
            .or_insert_with(|| Box::new(make()));
        match slot.downcast_mut::<T>() {
            Some(value) => value,
            // The key is T's own TypeId, so the box always holds a T.
            None => unreachable!("extension stored under another type's id"),
        }
    }

    /// [`Self::get_or_insert_with`] with `T::default()`.
    pub fn get_or_default<T: Any + Send + Sync + Default>(&mut self) -> &mut T {
        self.get_or_insert_with(T::default)
    }

    /// Take the value of type `T` out of the map.
    pub fn remove<T: Any + Send + Sync>(&mut self) -> Option<T> {
        self.map
            .remove(&TypeId::of::<T>())
            .and_then(|old| old.downcast::<T>().ok().map(|b| *b))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Default, PartialEq)]
    struct Count(u32);

    trait Provider: Send + Sync {
        fn answer(&self) -> u32;
    }
    struct Fixed;
    impl Provider for Fixed {
        fn answer(&self) -> u32 {
            42
        }
    }

    #[test]
    fn one_value_per_type_and_trait_objects_by_their_arc_type() {
        let mut ext = Extensions::new();
        assert!(ext.get::<Count>().is_none());
        ext.get_or_default::<Count>().0 += 2;
        ext.get_or_default::<Count>().0 += 3;
        assert_eq!(ext.get::<Count>(), Some(&Count(5)));
        assert_eq!(ext.insert(Count(1)), Some(Count(5)));
        let provider: std::sync::Arc<dyn Provider> = std::sync::Arc::new(Fixed);
        ext.insert(provider);
        let found = ext
            .get::<std::sync::Arc<dyn Provider>>()
            .map(|p| p.answer());
        assert_eq!(found, Some(42));
        assert_eq!(ext.remove::<Count>(), Some(Count(1)));
        assert!(ext.get::<Count>().is_none());
    }
}
