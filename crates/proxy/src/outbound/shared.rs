//! Values one handler's compiled instances share across rules and reloads (a JWKS source, an
//! introspection or token endpoint with its cache), by the key of what shapes them, while some
//! handler holds one. Written only when handlers compile (copy on write), never read by a
//! request; a dead entry is dropped on the next write.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Weak};

use arc_swap::ArcSwap;

/// Live values by key.
#[derive(Debug)]
pub struct Registry<K, V> {
    live: ArcSwap<HashMap<K, Weak<V>>>,
}

impl<K, V> Default for Registry<K, V> {
    fn default() -> Self {
        Registry {
            live: ArcSwap::default(),
        }
    }
}

impl<K: Eq + Hash + Clone, V> Registry<K, V> {
    /// The live value for `key`, if a handler still holds one.
    pub fn get(&self, key: &K) -> Option<Arc<V>> {
        self.live.load().get(key).and_then(Weak::upgrade)
    }

    /// Registers `fresh` for `key` unless a live value is there already, and gives the one
    /// registered: two reloads compiling at once agree on one value, whichever came first.
    pub fn register(&self, key: &K, fresh: Arc<V>) -> Arc<V> {
        self.live.rcu(|live| {
            let mut live = HashMap::clone(live);
            live.retain(|_, weak| weak.strong_count() > 0);
            if live.get(key).and_then(Weak::upgrade).is_none() {
                live.insert(key.clone(), Arc::downgrade(&fresh));
            }
            live
        });
        self.get(key).unwrap_or(fresh)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_live_value_registered_is_the_one_everyone_gets() {
        let registry = Registry::<&str, u32>::default();
        assert!(registry.get(&"a").is_none());
        let first = registry.register(&"a", Arc::new(1));
        let second = registry.register(&"a", Arc::new(2));
        assert!(Arc::ptr_eq(&first, &second));
        assert_eq!(*registry.get(&"a").unwrap(), 1);
    }

    #[test]
    fn a_value_no_one_holds_is_replaced() {
        let registry = Registry::<&str, u32>::default();
        drop(registry.register(&"a", Arc::new(1)));
        assert!(registry.get(&"a").is_none());
        assert_eq!(*registry.register(&"a", Arc::new(2)), 2);
    }
}
