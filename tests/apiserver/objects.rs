//! Object builders shaped like what a real cluster returns (labels, owner references, managed
//! fields, status), so rollcall's client parses and shrinks realistic objects.

use std::net::Ipv4Addr;

use serde_json::{Value, json};

fn managed_fields(manager: &str) -> Value {
    json!([{
        "manager": manager,
        "operation": "Update",
        "apiVersion": "v1",
        "time": "2026-01-01T00:00:00Z",
        "fieldsType": "FieldsV1",
        "fieldsV1": {"f:metadata": {"f:labels": {".": {}, "f:app": {}}}}
    }])
}

pub fn namespace(name: &str) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": name,
            "labels": {"kubernetes.io/metadata.name": name},
            "creationTimestamp": "2026-01-01T00:00:00Z"
        },
        "spec": {"finalizers": ["kubernetes"]},
        "status": {"phase": "Active"}
    })
}

/// A ClusterIP Service with one named TCP port.
pub fn service(namespace: &str, name: &str, cluster_ip: Ipv4Addr, port: u16) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {"app": name},
            "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}"},
            "creationTimestamp": "2026-01-01T00:00:00Z",
            "managedFields": managed_fields("kubectl-client-side-apply")
        },
        "spec": {
            "type": "ClusterIP",
            "clusterIP": cluster_ip.to_string(),
            "clusterIPs": [cluster_ip.to_string()],
            "ipFamilies": ["IPv4"],
            "ipFamilyPolicy": "SingleStack",
            "internalTrafficPolicy": "Cluster",
            "sessionAffinity": "None",
            "selector": {"app": name},
            "ports": [{"name": "http", "protocol": "TCP", "port": port, "targetPort": 8080}]
        },
        "status": {"loadBalancer": {}}
    })
}

/// A headless Service (answered from its ready endpoints).
pub fn headless_service(namespace: &str, name: &str, port: u16) -> Value {
    let mut svc = service(namespace, name, Ipv4Addr::UNSPECIFIED, port);
    svc["spec"]["clusterIP"] = json!("None");
    svc["spec"]["clusterIPs"] = json!(["None"]);
    svc
}

/// An EndpointSlice of `service` with one ready endpoint per (pod name, IP).
pub fn endpoint_slice(
    namespace: &str,
    service: &str,
    name: &str,
    endpoints: &[(String, Ipv4Addr)],
    port: u16,
) -> Value {
    let endpoints: Vec<Value> = endpoints
        .iter()
        .map(|(pod, ip)| {
            json!({
                "addresses": [ip.to_string()],
                "conditions": {"ready": true, "serving": true, "terminating": false},
                "nodeName": "node-1",
                "targetRef": {"kind": "Pod", "namespace": namespace, "name": pod, "uid": format!("uid-{pod}")},
                "zone": "zone-a"
            })
        })
        .collect();
    json!({
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "generateName": format!("{service}-"),
            "labels": {
                "kubernetes.io/service-name": service,
                "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io",
                "app": service
            },
            "ownerReferences": [{"apiVersion": "v1", "kind": "Service", "name": service, "uid": format!("uid-{service}"), "controller": true, "blockOwnerDeletion": true}],
            "creationTimestamp": "2026-01-01T00:00:00Z",
            "managedFields": managed_fields("kube-controller-manager")
        },
        "addressType": "IPv4",
        "endpoints": endpoints,
        "ports": [{"name": "http", "protocol": "TCP", "port": port}]
    })
}

/// A running Pod with one container and `ip`.
pub fn pod(namespace: &str, name: &str, ip: Ipv4Addr, app: &str) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "generateName": format!("{app}-"),
            "labels": {"app": app, "pod-template-hash": "5d8f9c7b6"},
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": format!("{app}-5d8f9c7b6"), "uid": format!("uid-rs-{app}"), "controller": true, "blockOwnerDeletion": true}],
            "creationTimestamp": "2026-01-01T00:00:00Z",
            "managedFields": managed_fields("kubelet")
        },
        "spec": {
            "containers": [{
                "name": "app",
                "image": "registry.example/app:1.0",
                "ports": [{"containerPort": 8080, "protocol": "TCP"}],
                "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}},
                "terminationMessagePath": "/dev/termination-log",
                "imagePullPolicy": "IfNotPresent"
            }],
            "restartPolicy": "Always",
            "dnsPolicy": "ClusterFirst",
            "nodeName": "node-1",
            "serviceAccountName": "default",
            "schedulerName": "default-scheduler",
            "terminationGracePeriodSeconds": 30
        },
        "status": {
            "phase": "Running",
            "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": "2026-01-01T00:00:00Z"}],
            "hostIP": "192.0.2.1",
            "podIP": ip.to_string(),
            "podIPs": [{"ip": ip.to_string()}],
            "startTime": "2026-01-01T00:00:00Z",
            "qosClass": "Burstable"
        }
    })
}
