use super::*;

#[test]
#[ignore = "manual: serves for two minutes at /tmp/fake-kubeconfig"]
fn scratch_serve() {
    let server = FakeApiServer::start(KubernetesState::juju_application("m", "oathkeeper", &["oathkeeper"])).unwrap();
    server.write_kubeconfig(std::path::Path::new("/tmp/fake-kubeconfig"), "m").unwrap();
    std::thread::sleep(std::time::Duration::from_secs(120));
    for r in server.requests() { eprintln!("{r:?}"); }
}
