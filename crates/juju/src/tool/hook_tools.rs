//! The typed facade over the hook tools.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde_json::{Map, Value};

use super::action::{
    action_fail_args, action_get_args, action_log_args, action_set_args, parse_action_get,
};
use super::application::application_version_set_args;
use super::config::{config_get_args, config_get_key_args, parse_config_get, parse_config_get_key};
use super::leader::{is_leader_args, parse_is_leader};
use super::log::{LogLevel, juju_log_args, split_message};
use super::network::{Network, network_get_args, parse_network_get};
use super::port::{Port, close_port_args, open_port_args, opened_ports_args, parse_opened_ports};
use super::relation::{
    RelationId, parse_relation_get, parse_relation_ids, parse_relation_list,
    parse_relation_list_app, parse_relation_model_get, relation_get_args, relation_ids_args,
    relation_list_app_args, relation_list_args, relation_model_get_args, relation_set_args,
    relation_set_stdin,
};
use super::secret::{
    Owner, Revision, SecretInfo, SecretMeta, SecretRef, parse_secret_add, parse_secret_get,
    parse_secret_ids, parse_secret_info_get, secret_add_args, secret_get_args, secret_grant_args,
    secret_ids_args, secret_info_get_args, secret_remove_args, secret_revoke_args, secret_set_args,
};
use super::state::{
    parse_state_get, state_delete_args, state_get_args, state_set_args, state_set_stdin,
};
use super::status::{
    ApplicationStatus, Status, StatusInfo, Target, parse_status_get_app, parse_status_get_unit,
    status_get_args, status_set_args,
};
use super::{Error, ProcessRunner, Runner, classify};

/// Hook tools behind typed methods: build the argv, run it through `R`, classify a failure,
/// parse the output.
///
/// Holds no state and caches nothing (not even `is-leader`): every method is one tool call,
/// or none when there is nothing to send.
#[derive(Debug, Clone, Default)]
pub struct HookTools<R> {
    runner: R,
}

impl HookTools<ProcessRunner> {
    /// The real tools, found on `$PATH`.
    pub fn from_path() -> HookTools<ProcessRunner> {
        HookTools::new(ProcessRunner::new())
    }
}

impl<R: Runner> HookTools<R> {
    /// Hook tools run by `runner`.
    pub fn new(runner: R) -> HookTools<R> {
        HookTools { runner }
    }

    /// The runner.
    pub fn runner(&self) -> &R {
        &self.runner
    }

    /// Runs `argv` (tool name first) and returns stdout, or the classified failure.
    pub fn call(&self, argv: &[String], stdin: Option<&[u8]>) -> Result<Vec<u8>, Error> {
        let Some((tool, args)) = argv.split_first() else {
            return Err(Error::invalid_argument("", "empty argv"));
        };
        let output = self
            .runner
            .run(tool, args, stdin)
            .map_err(|source| Error::Spawn {
                tool: tool.clone(),
                source,
            })?;
        if output.status != 0 {
            return Err(classify(tool, &output));
        }
        Ok(output.stdout)
    }

    /// `is-leader`: whether this unit leads its application (valid for 30 s).
    pub fn is_leader(&self) -> Result<bool, Error> {
        parse_is_leader(&self.call(&is_leader_args(), None)?)
    }

    /// `config-get`: every option that is set or has a default.
    pub fn config_get(&self) -> Result<Map<String, Value>, Error> {
        parse_config_get(&self.call(&config_get_args(), None)?)
    }

    /// `config-get <key>`: one option, `None` when unset.
    pub fn config_get_key(&self, key: &str) -> Result<Option<Value>, Error> {
        parse_config_get_key(&self.call(&config_get_key_args(key), None)?)
    }

    /// `relation-ids <endpoint>`: the live relations on `endpoint`.
    pub fn relation_ids(&self, endpoint: &str) -> Result<Vec<RelationId>, Error> {
        parse_relation_ids(&self.call(&relation_ids_args(endpoint), None)?)
    }

    /// `relation-list`: the remote units in scope.
    pub fn relation_list(&self, relation: &RelationId) -> Result<Vec<String>, Error> {
        parse_relation_list(&self.call(&relation_list_args(relation), None)?)
    }

    /// `relation-list --app`: the remote application.
    pub fn relation_remote_app(&self, relation: &RelationId) -> Result<String, Error> {
        parse_relation_list_app(&self.call(&relation_list_app_args(relation), None)?)
    }

    /// `relation-get`: the databag of `unit_or_app` (an application when it has no `/`).
    ///
    /// Reading this application's own databag as a non-leader is
    /// [`Error::PermissionDenied`]; an unknown relation is [`Error::RelationNotFound`].
    pub fn relation_get(
        &self,
        relation: &RelationId,
        unit_or_app: &str,
    ) -> Result<BTreeMap<String, String>, Error> {
        parse_relation_get(&self.call(&relation_get_args(relation, unit_or_app), None)?)
    }

    /// `relation-set`: merges `data` into this unit's databag; an empty value deletes a key.
    /// Nothing runs when `data` is empty.
    pub fn relation_set_unit(
        &self,
        relation: &RelationId,
        data: &BTreeMap<String, String>,
    ) -> Result<(), Error> {
        self.relation_set(relation, false, data)
    }

    /// `relation-set --app`: merges `data` into this application's databag (leader only:
    /// else [`Error::NotLeader`]). Nothing runs when `data` is empty.
    pub fn relation_set_app(
        &self,
        relation: &RelationId,
        data: &BTreeMap<String, String>,
    ) -> Result<(), Error> {
        self.relation_set(relation, true, data)
    }

    fn relation_set(
        &self,
        relation: &RelationId,
        app: bool,
        data: &BTreeMap<String, String>,
    ) -> Result<(), Error> {
        if data.is_empty() {
            return Ok(());
        }
        let stdin = relation_set_stdin(data);
        self.call(&relation_set_args(relation, app), Some(&stdin))
            .map(drop)
    }

    /// `relation-model-get`: the remote model's UUID (Juju 3.6.2+).
    pub fn relation_model_uuid(&self, relation: &RelationId) -> Result<String, Error> {
        parse_relation_model_get(&self.call(&relation_model_get_args(relation), None)?)
    }

    /// `status-set`: sets this unit's or (leader only) the application's status; an empty
    /// message clears it. Refuses a status only Juju sets with [`Error::InvalidArgument`].
    pub fn status_set(&self, target: Target, status: Status, message: &str) -> Result<(), Error> {
        self.call(&status_set_args(target, status, message)?, None)
            .map(drop)
    }

    /// `status-get`: this unit's status.
    pub fn status_get_unit(&self) -> Result<StatusInfo, Error> {
        parse_status_get_unit(&self.call(&status_get_args(Target::Unit), None)?)
    }

    /// `status-get --application=true`: the application's status and its units' (leader only).
    pub fn status_get_app(&self) -> Result<ApplicationStatus, Error> {
        parse_status_get_app(&self.call(&status_get_args(Target::Application), None)?)
    }

    /// `application-version-set`: the workload version shown by `juju status`.
    pub fn application_version_set(&self, version: &str) -> Result<(), Error> {
        self.call(&application_version_set_args(version), None)
            .map(drop)
    }

    /// `juju-log`: one call per [`split_message`] piece.
    pub fn juju_log(&self, level: LogLevel, message: &str) -> Result<(), Error> {
        for piece in split_message(message) {
            self.call(&juju_log_args(level, piece), None)?;
        }
        Ok(())
    }

    /// `action-get`: the action's parameters.
    pub fn action_get(&self) -> Result<Map<String, Value>, Error> {
        parse_action_get(&self.call(&action_get_args(), None)?)
    }

    /// `action-set`: records results, nested maps flattened with dots. Keys are checked
    /// before anything runs; nothing runs when `results` is empty.
    pub fn action_set(&self, results: &Map<String, Value>) -> Result<(), Error> {
        let args = action_set_args(results)?;
        if args.len() == 1 {
            return Ok(());
        }
        self.call(&args, None).map(drop)
    }

    /// `action-fail`: marks the action failed with `message`.
    pub fn action_fail(&self, message: &str) -> Result<(), Error> {
        self.call(&action_fail_args(message), None).map(drop)
    }

    /// `action-log`: a progress message.
    pub fn action_log(&self, message: &str) -> Result<(), Error> {
        self.call(&action_log_args(message), None).map(drop)
    }

    /// `open-port`.
    pub fn open_port(&self, port: &Port) -> Result<(), Error> {
        self.call(&open_port_args(port), None).map(drop)
    }

    /// `close-port`.
    pub fn close_port(&self, port: &Port) -> Result<(), Error> {
        self.call(&close_port_args(port), None).map(drop)
    }

    /// `opened-ports`: the committed open ports.
    pub fn opened_ports(&self) -> Result<Vec<Port>, Error> {
        parse_opened_ports(&self.call(&opened_ports_args(), None)?)
    }

    /// `network-get`: the network of `binding`, optionally as seen on `relation`.
    pub fn network_get(
        &self,
        binding: &str,
        relation: Option<&RelationId>,
    ) -> Result<Network, Error> {
        parse_network_get(&self.call(&network_get_args(binding, relation), None)?)
    }

    /// `secret-get`: a secret's content.
    pub fn secret_get(
        &self,
        secret: &SecretRef,
        revision: Revision,
    ) -> Result<BTreeMap<String, String>, Error> {
        parse_secret_get(&self.call(&secret_get_args(secret, revision), None)?)
    }

    /// `secret-ids`: the secrets this unit or application owns.
    pub fn secret_ids(&self) -> Result<Vec<String>, Error> {
        parse_secret_ids(&self.call(&secret_ids_args(), None)?)
    }

    /// `secret-info-get`: what the owner knows about a secret.
    pub fn secret_info_get(&self, secret: &SecretRef) -> Result<SecretInfo, Error> {
        parse_secret_info_get(&self.call(&secret_info_get_args(secret), None)?)
    }

    /// `secret-add`: creates a secret whose values the caller wrote to `files` (key → path),
    /// and returns its URI.
    pub fn secret_add(
        &self,
        owner: Owner,
        meta: &SecretMeta,
        files: &BTreeMap<String, PathBuf>,
    ) -> Result<String, Error> {
        parse_secret_add(&self.call(&secret_add_args(owner, meta, files), None)?)
    }

    /// `secret-set`: updates metadata and, when `files` is not empty, the content.
    pub fn secret_set(
        &self,
        uri: &str,
        owner: Owner,
        meta: &SecretMeta,
        files: &BTreeMap<String, PathBuf>,
    ) -> Result<(), Error> {
        self.call(&secret_set_args(uri, owner, meta, files), None)
            .map(drop)
    }

    /// `secret-remove`: removes one revision, or all when `revision` is `None`.
    pub fn secret_remove(&self, uri: &str, revision: Option<u64>) -> Result<(), Error> {
        self.call(&secret_remove_args(uri, revision), None)
            .map(drop)
    }

    /// `secret-grant`: lets the remote side of `relation` (or one unit of it) read a secret.
    pub fn secret_grant(
        &self,
        uri: &str,
        relation: &RelationId,
        unit: Option<&str>,
    ) -> Result<(), Error> {
        self.call(&secret_grant_args(uri, relation, unit), None)
            .map(drop)
    }

    /// `secret-revoke`: withdraws a grant.
    pub fn secret_revoke(
        &self,
        uri: &str,
        relation: &RelationId,
        unit: Option<&str>,
    ) -> Result<(), Error> {
        self.call(&secret_revoke_args(uri, relation, unit), None)
            .map(drop)
    }

    /// `state-get`: the unit state stored on the controller.
    pub fn state_get(&self) -> Result<BTreeMap<String, String>, Error> {
        parse_state_get(&self.call(&state_get_args(), None)?)
    }

    /// `state-set`: merges `data` into the unit state. Nothing runs when `data` is empty.
    pub fn state_set(&self, data: &BTreeMap<String, String>) -> Result<(), Error> {
        if data.is_empty() {
            return Ok(());
        }
        let stdin = state_set_stdin(data);
        self.call(&state_set_args(), Some(&stdin)).map(drop)
    }

    /// `state-delete`: removes one key of the unit state.
    pub fn state_delete(&self, key: &str) -> Result<(), Error> {
        self.call(&state_delete_args(key), None).map(drop)
    }
}
