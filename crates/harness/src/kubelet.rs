//! What kubelet does to a running pod's ConfigMap volumes after a hook: the mounted files
//! follow the ConfigMaps' data (kubelet syncs them within about a minute; the harness does it
//! when the hook ends).
//!
//! Only volumes the State already shows mounted are synced: a container with at least one
//! file under the mount path of a `configMap` volume of a StatefulSet's pod template. A mount
//! the hook adds to the StatefulSet reaches a pod only when it restarts, which the harness
//! does not model, so it is left alone.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::pebble::File;
use crate::state::State;

/// Syncs the files of every ConfigMap volume `state`'s containers already show mounted.
pub fn sync_config_map_volumes(state: &mut State) {
    let mut mounts = Vec::new();
    for object in &state.kubernetes.objects {
        if object.get("kind").and_then(Value::as_str) != Some("StatefulSet") {
            continue;
        }
        let Some(spec) = object.pointer("/spec/template/spec") else {
            continue;
        };
        let volumes: BTreeMap<&str, &str> = spec["volumes"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| Some((v["name"].as_str()?, v.pointer("/configMap/name")?.as_str()?)))
            .collect();
        for container in spec["containers"].as_array().into_iter().flatten() {
            let Some(name) = container["name"].as_str() else {
                continue;
            };
            for mount in container["volumeMounts"].as_array().into_iter().flatten() {
                let (Some(volume), Some(path)) =
                    (mount["name"].as_str(), mount["mountPath"].as_str())
                else {
                    continue;
                };
                if let Some(config_map) = volumes.get(volume) {
                    mounts.push((name.to_owned(), path.to_owned(), (*config_map).to_owned()));
                }
            }
        }
    }
    for (container, path, config_map) in mounts {
        let Some(data) = state.kubernetes.config_map_data(&config_map) else {
            continue;
        };
        let Some(files) = state.containers.get_mut(&container).map(|c| &mut c.files) else {
            continue;
        };
        let dir = format!("{}/", path.trim_end_matches('/'));
        if !files.keys().any(|file| file.starts_with(&dir)) {
            continue;
        }
        files.retain(|file, _| !file.starts_with(&dir));
        for (key, value) in data {
            files.insert(format!("{dir}{key}"), File::Text(value));
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::pebble::ContainerState;

    fn statefulset() -> Value {
        json!({"apiVersion": "apps/v1", "kind": "StatefulSet",
            "metadata": {"name": "app", "namespace": "default"},
            "spec": {"template": {"spec": {
                "volumes": [{"name": "rules", "configMap": {"name": "rules"}}],
                "containers": [{"name": "web",
                    "volumeMounts": [{"name": "rules", "mountPath": "/etc/rules"}]}]}}}})
    }

    #[test]
    fn a_mounted_config_map_volume_follows_the_data_and_an_unmounted_one_is_left() {
        let mut state = State::default().container(
            "web",
            ContainerState::default()
                .with_file("/etc/rules/old.json", "[old]")
                .with_file("/etc/rules/gone.json", "[]")
                .with_file("/etc/other", "kept"),
        );
        state.kubernetes = state
            .kubernetes
            .clone()
            .with_object(statefulset())
            .with_config_map("rules", &[("old.json", "[new]"), ("added.json", "[]")]);
        sync_config_map_volumes(&mut state);
        let files = &state.containers["web"].files;
        let text = |path: &str| match &files[path] {
            File::Text(text) => text.clone(),
            other => panic!("{other:?}"),
        };
        assert_eq!(text("/etc/rules/old.json"), "[new]");
        assert_eq!(text("/etc/rules/added.json"), "[]");
        assert!(!files.contains_key("/etc/rules/gone.json"));
        assert_eq!(text("/etc/other"), "kept");
        // A container showing nothing under the mount path gets nothing.
        let mut bare = State::default().container("web", ContainerState::default());
        bare.kubernetes = state.kubernetes.clone();
        sync_config_map_volumes(&mut bare);
        assert!(bare.containers["web"].files.is_empty());
    }
}
