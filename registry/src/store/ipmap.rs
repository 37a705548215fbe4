//! A concurrent map keyed by IP address that keys IPv4 by its 4 bytes and IPv6 by its 16, so
//! the common IPv4 entry is not padded out to a 17-byte `IpAddr`: at 150,000 pod and endpoint
//! addresses that is several megabytes of index.

use std::net::IpAddr;

use dashmap::DashMap;

pub(crate) struct IpMap<V> {
    v4: DashMap<u32, V>,
    v6: DashMap<u128, V>,
}

impl<V> Default for IpMap<V> {
    fn default() -> Self {
        IpMap {
            v4: DashMap::new(),
            v6: DashMap::new(),
        }
    }
}

impl<V> IpMap<V> {
    /// Runs `f` on the value for `ip` under its shard's read guard, which is dropped on return.
    pub(crate) fn read<R>(&self, ip: IpAddr, f: impl FnOnce(&V) -> R) -> Option<R> {
        match ip {
            IpAddr::V4(v4) => self.v4.get(&u32::from(v4)).map(|e| f(e.value())),
            IpAddr::V6(v6) => self.v6.get(&u128::from(v6)).map(|e| f(e.value())),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.v4.len() + self.v6.len()
    }

    pub(crate) fn insert(&self, ip: IpAddr, value: V) {
        match ip {
            IpAddr::V4(v4) => drop(self.v4.insert(u32::from(v4), value)),
            IpAddr::V6(v6) => drop(self.v6.insert(u128::from(v6), value)),
        }
    }

    pub(crate) fn remove(&self, ip: IpAddr) {
        match ip {
            IpAddr::V4(v4) => drop(self.v4.remove(&u32::from(v4))),
            IpAddr::V6(v6) => drop(self.v6.remove(&u128::from(v6))),
        }
    }

    /// Changes the value for `ip` (starting from the default when absent) and removes the entry
    /// when `f` leaves it empty by `is_empty`'s measure.
    pub(crate) fn update(&self, ip: IpAddr, f: impl FnOnce(&mut V), is_empty: impl Fn(&V) -> bool)
    where
        V: Default,
    {
        match ip {
            IpAddr::V4(v4) => update(&self.v4, u32::from(v4), f, is_empty),
            IpAddr::V6(v6) => update(&self.v6, u128::from(v6), f, is_empty),
        }
    }
}

fn update<K: std::hash::Hash + Eq + Copy, V: Default>(
    map: &DashMap<K, V>,
    key: K,
    f: impl FnOnce(&mut V),
    is_empty: impl Fn(&V) -> bool,
) {
    let now_empty = {
        let mut value = map.entry(key).or_default();
        f(&mut value);
        is_empty(&value)
    };
    if now_empty {
        map.remove_if(&key, |_, value| is_empty(value));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_families_and_removal_when_emptied() {
        let map: IpMap<Vec<u8>> = IpMap::default();
        let v4: IpAddr = "10.0.0.1".parse().unwrap();
        let v6: IpAddr = "fd00::1".parse().unwrap();
        map.update(v4, |v| v.push(1), Vec::is_empty);
        map.insert(v6, vec![6]);
        assert_eq!(map.read(v4, Clone::clone), Some(vec![1]));
        assert_eq!(map.read(v6, Clone::clone), Some(vec![6]));
        map.update(v4, |v| v.clear(), Vec::is_empty);
        assert_eq!(map.read(v4, Clone::clone), None);
        map.remove(v6);
        assert_eq!(map.read(v6, Clone::clone), None);
    }
}
