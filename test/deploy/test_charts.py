"""Checks of helm/ and gitops/ without a cluster: every chart rendered the
way Helm renders it (test/deploy/render), then the objects checked against
OpenShift's restricted-v2 SCC, the NetworkPolicies of issue 9, secrets
hygiene, the values schemas, and the generated nginx.conf run through
`nginx -t` with the real module."""

import glob
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import time

import jsonschema
import pytest
import yaml

from conftest import HELM, ROOT, RenderError

CHARTS = ["mcp-gateway", "mcp-sandbox", "mcp-redis", "mcp-keycloak-realm", "mcp-logging"]
DOMAIN = "global.localClusterDomain=apps.cluster.example.com"
TOOLSET_FILES = sorted(glob.glob(os.path.join(HELM, "mcp-gateway", "toolsets", "*.yaml")))
MODULE_SO = os.path.join(ROOT, "build", "nginx", "ngx_http_mcp_module.so")
AUDIT_FORMAT = os.path.join(ROOT, "ngx_mcp_module", "conf", "mcp_audit_log_format.conf")
NGINX = shutil.which("nginx", path="/usr/sbin:/usr/bin") or "/usr/sbin/nginx"


def example(tmp_path_factory, name, data):
    path = tmp_path_factory.mktemp("values") / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data))
    return str(path)


# (chart, namespace, value files, --set) for the default values and for
# examples that switch on the optional parts
def cases():
    gitops = os.path.join(ROOT, "gitops", "values")
    return {
        "gateway-default": ("mcp-gateway", "mcp-shared", [], [DOMAIN]),
        "gateway-gitops": ("mcp-gateway", "mcp-shared", [f"{gitops}/mcp-gateway.yaml"], [DOMAIN]),
        "gateway-hpa-external-idp": ("mcp-gateway", "mcp-shared", ["@gateway-hpa"], []),
        "sandbox-default": ("mcp-sandbox", "mcp-log-analysis", [], []),
        "sandbox-pvc-logdata": ("mcp-sandbox", "mcp-log-analysis", ["@sandbox-pvc"], []),
        **{f"sandbox-toolset-{os.path.basename(f)[:-5]}":
           ("mcp-sandbox", "mcp-" + os.path.basename(f)[:-5], [f], []) for f in TOOLSET_FILES},
        "redis-default": ("mcp-redis", "mcp-shared", [], []),
        "redis-gitops": ("mcp-redis", "mcp-shared", [f"{gitops}/mcp-redis.yaml"],
                         ["persistence.enabled=false"]),
        "realm-default": ("mcp-keycloak-realm", "mcp-shared", [], [DOMAIN]),
        "realm-confidential": ("mcp-keycloak-realm", "mcp-shared",
                               [f"{gitops}/mcp-keycloak-realm.yaml"],
                               [DOMAIN, "client.publicClient=false", "keycloak.create=false"]),
        "logging-default": ("mcp-logging", "openshift-logging", [], []),
        "logging-gitops": ("mcp-logging", "openshift-logging", [f"{gitops}/mcp-logging.yaml"],
                           ["parseJson=false", "sandboxes.enabled=false"]),
    }


EXAMPLES = {
    "gateway-hpa": {
        "publicHost": "mcp.example.com",
        "autoscaling": {"enabled": True, "maxReplicas": 10},
        "idp": {"issuer": "https://sso.example.com/realms/mcp-realm",
                "jwksUrl": "https://sso.example.com/realms/mcp-realm/protocol/openid-connect/certs",
                "egressCidrs": ["203.0.113.0/24"], "tls": {"caConfigMap": "trusted-ca",
                                                          "caKey": "ca-bundle.crt"}},
        "tenants": [{"name": "reports", "allowRoles": ["mcp-admin"],
                     "tools": [{"name": "report_*", "roles": ["mcp-admin"]}],
                     "allowedOrigins": ["https://claude.ai"], "sessionRequests": "pass",
                     "rateLimit": {"enabled": False}}],
    },
    "sandbox-pvc": {
        "toolset": {"name": "reports"},
        "workspace": {"type": "pvc", "size": "10Gi", "storageClassName": "gp3-csi"},
        "logData": {"existingClaim": "app-logs", "subPath": "prod"},
        "allowNoLandlock": True,
    },
}


@pytest.fixture(scope="session")
def rendered(render, tmp_path_factory):
    files = {k: example(tmp_path_factory, k, v) for k, v in EXAMPLES.items()}
    out = {}
    for case, (chart, ns, values, sets) in cases().items():
        values = [files[v[1:]] if v.startswith("@") else v for v in values]
        out[case] = render(chart, values=values, sets=sets, namespace=ns, name=chart)
    return out


CASES = sorted(cases())


def pod_specs(objects):
    for obj in objects:
        kind = obj.get("kind")
        if kind in ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"):
            yield obj, obj["spec"]["template"]["spec"]
        elif kind == "CronJob":
            yield obj, obj["spec"]["jobTemplate"]["spec"]["template"]["spec"]
        elif kind == "Pod":
            yield obj, obj["spec"]


def by_kind(objects, kind):
    return [o for o in objects if o["kind"] == kind]


# -- objects ------------------------------------------------------------------

DNS1123 = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")


@pytest.mark.parametrize("case", CASES)
def test_valid_kubernetes_objects(rendered, case):
    objects = rendered[case]["objects"]
    assert objects, "nothing rendered"
    seen = set()
    for obj in objects:
        assert isinstance(obj.get("apiVersion"), str) and obj["apiVersion"], obj["__file__"]
        assert isinstance(obj.get("kind"), str) and obj["kind"], obj["__file__"]
        name = obj.get("metadata", {}).get("name")
        assert name and DNS1123.match(name) and len(name) <= 253, (obj["__file__"], name)
        key = (obj["apiVersion"], obj["kind"], name)
        assert key not in seen, f"duplicate {key}"
        seen.add(key)
        for label, value in obj["metadata"].get("labels", {}).items():
            assert isinstance(value, str) and len(value) <= 63, (label, value)
    assert rendered[case]["notes"].strip(), "NOTES.txt rendered empty"


@pytest.mark.parametrize("case", CASES)
def test_no_unrendered_text(rendered, case):
    for fname, text in rendered[case]["manifests"].items():
        assert "{{" not in text and "<no value>" not in text, fname
        # Helm renders YAML numbers as float64: a large number must go
        # through int, or it would come out as 1.048576e+06
        assert not re.search(r"\d\.\d+e\+\d\d", text), fname


# -- restricted-v2 -------------------------------------------------------------

@pytest.mark.parametrize("case", CASES)
def test_pods_pass_restricted_v2(rendered, case):
    for obj, spec in pod_specs(rendered[case]["objects"]):
        where = f"{obj['kind']}/{obj['metadata']['name']}"
        psc = spec.get("securityContext", {})
        assert psc.get("runAsNonRoot") is True, where
        assert psc.get("seccompProfile", {}).get("type") == "RuntimeDefault", where
        # arbitrary UID: the SCC assigns user, group and fsGroup
        for field in ("runAsUser", "runAsGroup", "fsGroup", "supplementalGroups"):
            assert field not in psc, f"{where}: {field} pinned"
        for field in ("hostNetwork", "hostPID", "hostIPC"):
            assert not spec.get(field), f"{where}: {field}"
        for vol in spec.get("volumes", []):
            assert "hostPath" not in vol, f"{where}: hostPath volume"
        containers = spec.get("containers", []) + spec.get("initContainers", [])
        assert containers
        for c in containers:
            csc = c.get("securityContext", {})
            cw = f"{where} container {c['name']}"
            assert csc.get("allowPrivilegeEscalation") is False, cw
            assert csc.get("privileged") in (None, False), cw
            caps = csc.get("capabilities", {})
            assert "ALL" in caps.get("drop", []), cw
            assert not caps.get("add"), cw
            assert csc.get("runAsNonRoot") is True, cw
            assert "runAsUser" not in csc and "runAsGroup" not in csc, cw
            assert csc.get("seccompProfile", {}).get("type") == "RuntimeDefault", cw
            assert csc.get("readOnlyRootFilesystem") is True, cw
            for port in c.get("ports", []):
                assert port["containerPort"] >= 1024, cw
            assert c.get("resources", {}).get("limits", {}).get("memory"), cw
            assert c.get("livenessProbe") and c.get("readinessProbe"), cw
            image = c["image"]
            assert ":" in image.rsplit("/", 1)[-1] or "@sha256:" in image, cw


@pytest.mark.parametrize("case", CASES)
def test_no_kubernetes_api_access(rendered, case):
    objects = rendered[case]["objects"]
    for obj, spec in pod_specs(objects):
        assert spec.get("automountServiceAccountToken") is False, obj["metadata"]["name"]
        sa = spec.get("serviceAccountName")
        assert sa, "a dedicated ServiceAccount, not default"
        sas = [o for o in by_kind(objects, "ServiceAccount") if o["metadata"]["name"] == sa]
        assert sas and sas[0].get("automountServiceAccountToken") is False
    # only the log collector gets API rights (the Logging operator's roles)
    for kind in ("Role", "RoleBinding", "ClusterRole"):
        assert not by_kind(objects, kind), kind
    for crb in by_kind(objects, "ClusterRoleBinding"):
        assert case.startswith("logging")
        assert crb["roleRef"]["name"] in ("collect-application-logs",
                                          "logging-collector-logs-writer")


# -- NetworkPolicies -----------------------------------------------------------

def policy_for(objects, labels):
    for np in by_kind(objects, "NetworkPolicy"):
        sel = np["spec"]["podSelector"].get("matchLabels", {})
        if all(labels.get(k) == v for k, v in sel.items()):
            return np
    return None


@pytest.mark.parametrize("case", CASES)
def test_every_pod_has_a_networkpolicy(rendered, case):
    objects = rendered[case]["objects"]
    for obj, _ in pod_specs(objects):
        labels = obj["spec"]["template"]["metadata"]["labels"]
        np = policy_for(objects, labels)
        assert np, f"no NetworkPolicy selects {obj['metadata']['name']}"
        assert sorted(np["spec"]["policyTypes"]) == ["Egress", "Ingress"]


def test_gateway_networkpolicy(rendered):
    objects = rendered["gateway-default"]["objects"]
    (np,) = by_kind(objects, "NetworkPolicy")
    (ingress,) = np["spec"]["ingress"]
    assert all(set(p) == {"namespaceSelector"} for p in ingress["from"])
    router_labels = [p["namespaceSelector"]["matchLabels"] for p in ingress["from"]]
    assert {"policy-group.network.openshift.io/ingress": ""} in router_labels
    assert [p["port"] for p in ingress["ports"]] == [8080]
    egress = np["spec"]["egress"]
    targets = []
    for rule in egress:
        assert rule.get("to") and rule.get("ports"), "egress rules name peers and ports"
        for peer in rule["to"]:
            assert "ipBlock" not in peer, "no address ranges by default"
            ns = peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
            pods = peer.get("podSelector", {}).get("matchLabels", {})
            targets.append((ns, tuple(sorted(pods.items())), tuple(p["port"] for p in rule["ports"])))
    assert ("openshift-dns", (), (5353, 5353, 53, 53)) in targets
    assert ("mcp-shared", (("app.kubernetes.io/name", "mcp-redis"),), (6379,)) in targets
    assert ("mcp-shared", (("app",  "keycloak"),), (8443,)) in targets
    assert ("mcp-log-analysis", (("app.kubernetes.io/name", "mcp-sandbox"),
                                 ("ngx-mcp/toolset", "log-analysis")), (9101,)) in targets
    assert len(targets) == 3 + len(TOOLSET_FILES)


def test_gateway_networkpolicy_external_idp_and_reencrypt(rendered):
    np = by_kind(rendered["gateway-hpa-external-idp"]["objects"], "NetworkPolicy")[0]
    blocks = [p["ipBlock"]["cidr"] for r in np["spec"]["egress"] for p in r["to"] if "ipBlock" in p]
    assert blocks == ["203.0.113.0/24"]
    np = by_kind(rendered["gateway-gitops"]["objects"], "NetworkPolicy")[0]
    assert [p["port"] for p in np["spec"]["ingress"][0]["ports"]] == [8443]


@pytest.mark.parametrize("case", [c for c in CASES if c.startswith("sandbox")])
def test_sandbox_networkpolicy(rendered, case):
    (np,) = by_kind(rendered[case]["objects"], "NetworkPolicy")
    assert np["spec"]["egress"] == [], "no egress at all"
    assert "Egress" in np["spec"]["policyTypes"]
    (ingress,) = np["spec"]["ingress"]
    (peer,) = ingress["from"]
    assert peer["namespaceSelector"]["matchLabels"] == {"kubernetes.io/metadata.name": "mcp-shared"}
    assert peer["podSelector"]["matchLabels"] == {"app.kubernetes.io/name": "mcp-gateway"}
    assert [p["port"] for p in ingress["ports"]] == [9101]


@pytest.mark.parametrize("case", ["redis-default", "redis-gitops"])
def test_redis_networkpolicy(rendered, case):
    (np,) = by_kind(rendered[case]["objects"], "NetworkPolicy")
    assert np["spec"]["egress"] == []
    peers = np["spec"]["ingress"][0]["from"]
    assert peers[0]["podSelector"]["matchLabels"] == {"app.kubernetes.io/name": "mcp-gateway"}
    assert peers[1] == {"podSelector": {"matchLabels": {"ngx-mcp/redis-admin": "true"}}}


# -- the gateway's shape ---------------------------------------------------------

def gateway_conf(result):
    (cm,) = by_kind(result["objects"], "ConfigMap")
    return cm["data"]


def test_gateway_objects(rendered):
    objects = rendered["gateway-default"]["objects"]
    kinds = sorted(o["kind"] for o in objects)
    assert kinds == ["ConfigMap", "Deployment", "NetworkPolicy", "PodDisruptionBudget", "Route",
                     "Service", "ServiceAccount"]
    (route,) = by_kind(objects, "Route")
    assert route["spec"]["tls"]["termination"] == "edge"
    assert route["spec"]["tls"]["insecureEdgeTerminationPolicy"] == "Redirect"
    (dep,) = by_kind(objects, "Deployment")
    assert dep["spec"]["replicas"] == 2
    assert "checksum/config" in dep["spec"]["template"]["metadata"]["annotations"]
    hpa = by_kind(rendered["gateway-hpa-external-idp"]["objects"], "HorizontalPodAutoscaler")
    assert hpa and hpa[0]["spec"]["maxReplicas"] == 10
    (dep,) = by_kind(rendered["gateway-hpa-external-idp"]["objects"], "Deployment")
    assert "replicas" not in dep["spec"], "the HPA owns the replica count"
    objects = rendered["gateway-gitops"]["objects"]
    (route,) = by_kind(objects, "Route")
    assert route["spec"]["tls"]["termination"] == "reencrypt"
    (svc,) = by_kind(objects, "Service")
    assert svc["metadata"]["annotations"]["service.beta.openshift.io/serving-cert-secret-name"]


def test_gateway_tenant_locations(rendered):
    conf = gateway_conf(rendered["gateway-default"])["nginx.conf"]
    for f in TOOLSET_FILES:
        ts = yaml.safe_load(open(f))
        name = ts["toolset"]["name"]
        block = conf[conf.index(f"location = /mcp/{name} {{"):]
        block = block[:block.index("\n        }")]
        assert f"mcp_endpoint {name};" in block
        assert f"mcp_allow_roles {' '.join(ts['tenant']['allowRoles'])};" in block
        for tool in ts["tenant"]["tools"]:
            assert f"mcp_tool {tool['name']} {' '.join(tool['roles'])};" in block
        assert f"mcp_resource https://mcp-gateway-mcp-shared.apps.cluster.example.com/mcp/{name};" in block
        assert "access_log /dev/stdout mcp_audit;" in block
        assert f"server mcp-sandbox-{name}.mcp-{name}.svc:9101;" in conf
    conf = gateway_conf(rendered["gateway-hpa-external-idp"])["nginx.conf"]
    assert "location = /mcp/reports {" in conf and "mcp_tool report_* mcp-admin;" in conf
    assert "mcp_allowed_origins https://claude.ai;" in conf
    assert "mcp_session_requests pass;" in conf


def test_toolset_file_matches_both_charts(render):
    """The one file per tool set wires the gateway and its sandbox together."""
    gw = render("mcp-gateway", sets=[DOMAIN], namespace="mcp-shared")
    np = by_kind(gw["objects"], "NetworkPolicy")[0]
    for f in TOOLSET_FILES:
        name = yaml.safe_load(open(f))["toolset"]["name"]
        sb = render("mcp-sandbox", values=[f], namespace=f"mcp-{name}",
                    name=f"mcp-sandbox-{name}")
        (svc,) = by_kind(sb["objects"], "Service")
        (dep,) = by_kind(sb["objects"], "Deployment")
        host = f"{svc['metadata']['name']}.mcp-{name}.svc:{svc['spec']['ports'][0]['port']}"
        assert f"server {host};" in gateway_conf(gw)["nginx.conf"]
        pod_labels = dep["spec"]["template"]["metadata"]["labels"]
        peers = [p for r in np["spec"]["egress"] for p in r["to"]
                 if p["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"] == f"mcp-{name}"]
        assert peers and all(pod_labels.get(k) == v
                             for k, v in peers[0]["podSelector"]["matchLabels"].items())
        gw_secret = [v["secret"]["secretName"] for v in
                     by_kind(gw["objects"], "Deployment")[0]["spec"]["template"]["spec"]["volumes"]
                     if v["name"] == f"identity-{name}"]
        sb_secret = [v["secret"]["secretName"] for v in dep["spec"]["template"]["spec"]["volumes"]
                     if v["name"] == "identity"]
        assert gw_secret == sb_secret == [f"mcp-identity-{name}"]


def test_sandbox_worker_flags(rendered):
    (dep,) = by_kind(rendered["sandbox-default"]["objects"], "Deployment")
    spec = dep["spec"]["template"]["spec"]
    args = spec["containers"][0]["args"]
    assert "--toolset=/opt/mcp/toolsets/log-analysis" in args
    assert "--output-bytes=1048576" in args
    assert "--listen=0.0.0.0:9101" in args
    assert not any(a.startswith("--allow-no-landlock") for a in args)
    vols = {v["name"]: v for v in spec["volumes"]}
    assert vols["workspace"]["emptyDir"]["sizeLimit"] == "1Gi"
    assert vols["tmp"]["emptyDir"]["sizeLimit"]
    (dep,) = by_kind(rendered["sandbox-pvc-logdata"]["objects"], "Deployment")
    spec = dep["spec"]["template"]["spec"]
    mounts = {m["name"]: m for m in spec["containers"][0]["volumeMounts"]}
    assert mounts["data"]["readOnly"] is True and mounts["data"]["subPath"] == "prod"
    vols = {v["name"]: v for v in spec["volumes"]}
    assert vols["data"]["persistentVolumeClaim"] == {"claimName": "app-logs", "readOnly": True}
    assert vols["workspace"]["persistentVolumeClaim"]["claimName"] == "mcp-sandbox-reports-workspace"
    assert dep["spec"]["strategy"]["type"] == "Recreate"
    assert by_kind(rendered["sandbox-pvc-logdata"]["objects"], "PersistentVolumeClaim")
    assert "WARNING" in rendered["sandbox-pvc-logdata"]["notes"]


def test_sandbox_refuses_shared_rwo_workspace(render):
    with pytest.raises(RenderError, match="ReadWriteMany"):
        render("mcp-sandbox", sets=["replicaCount=2", "workspace.type=pvc"])


def test_realm(rendered):
    (imp,) = by_kind(rendered["realm-default"]["objects"], "KeycloakRealmImport")
    realm = imp["spec"]["realm"]
    assert realm["realm"] == "mcp-realm"
    assert {r["name"] for r in realm["roles"]["realm"]} >= {"mcp-admin", "mcp-log-analyst",
                                                            "mcp-viewer"}
    assert "users" not in realm, "no users (and so no passwords) are committed"
    (client,) = realm["clients"]
    assert client["clientId"] == "mcp-gateway-client"
    assert client["publicClient"] is True and "secret" not in client
    assert client["directAccessGrantsEnabled"] is False
    assert "*" not in client["webOrigins"]
    mappers = {m["protocolMapper"]: m for m in client["protocolMappers"]}
    assert mappers["oidc-usermodel-realm-role-mapper"]["config"]["claim.name"] == "realm_access.roles"
    audiences = [m["config"]["included.custom.audience"] for m in client["protocolMappers"]
                 if m["protocolMapper"] == "oidc-audience-mapper"]
    for f in TOOLSET_FILES:
        name = yaml.safe_load(open(f))["toolset"]["name"]
        assert f"https://mcp-gateway-mcp-shared.apps.cluster.example.com/mcp/{name}" in audiences
    (kc,) = by_kind(rendered["realm-default"]["objects"], "Keycloak")
    assert kc["spec"]["db"]["passwordSecret"] == {"name": "mcp-keycloak-db", "key": "password"}
    # a confidential client takes its secret from a Secret at import time
    (imp,) = by_kind(rendered["realm-confidential"]["objects"], "KeycloakRealmImport")
    assert imp["spec"]["realm"]["clients"][0]["secret"] == "${MCP_GATEWAY_CLIENT_SECRET}"
    assert imp["spec"]["placeholders"]["MCP_GATEWAY_CLIENT_SECRET"]["secret"]["name"]
    assert not by_kind(rendered["realm-confidential"]["objects"], "Keycloak")


def test_gateway_issuer_matches_realm(rendered):
    conf = gateway_conf(rendered["gateway-default"])["nginx.conf"]
    notes = rendered["realm-default"]["notes"]
    issuer = re.search(r"Issuer \(the gateway's idp.issuer\): (\S+)", notes).group(1)
    assert f"mcp_jwt_issuer {issuer};" in conf
    (svc,) = by_kind(rendered["realm-default"]["objects"], "Service")
    assert f"https://{svc['metadata']['name']}.mcp-shared.svc:{svc['spec']['ports'][0]['port']}/" in conf


def test_logging(rendered):
    (clf,) = by_kind(rendered["logging-default"]["objects"], "ClusterLogForwarder")
    assert clf["apiVersion"] == "observability.openshift.io/v1"
    outputs = {o["name"]: o for o in clf["spec"]["outputs"]}
    assert outputs["lokistack"]["type"] == "lokiStack"
    (audit,) = [i for i in clf["spec"]["inputs"] if i["name"] == "mcp-gateway-audit"]
    assert audit["application"]["includes"] == [{"namespace": "mcp-shared", "container": "gateway"}]
    pipes = {p["name"]: p for p in clf["spec"]["pipelines"]}
    assert pipes["mcp-gateway-audit"]["outputRefs"] == ["lokistack"]
    assert clf["spec"]["serviceAccount"]["name"] in [
        o["metadata"]["name"] for o in by_kind(rendered["logging-default"]["objects"], "ServiceAccount")]


def test_required_values_are_named(render):
    with pytest.raises(RenderError, match="global.localClusterDomain"):
        render("mcp-gateway")
    with pytest.raises(RenderError, match="global.localClusterDomain"):
        render("mcp-keycloak-realm")


# -- secrets -------------------------------------------------------------------

SECRETISH = re.compile(r"(password|passwd|secret|token|apikey|api_key)$", re.I)
ALLOWED_SECRETISH = {"existingSecret"}
WEAK = re.compile(r"changeme|change-me|demo-token|admin123|password123|letmein|s3cr3t|"
                  r"BEGIN (RSA |EC |OPENSSH )?PRIVATE KEY|mcp_[0-9a-f]{16}_[0-9a-f]{64}", re.I)


def leaf_items(node, path=()):
    if isinstance(node, dict):
        for k, v in node.items():
            yield from leaf_items(v, path + (str(k),))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from leaf_items(v, path + (str(i),))
    else:
        yield path, node


def deploy_files():
    files = []
    for base in ("helm", "gitops"):
        for dirpath, _, names in os.walk(os.path.join(ROOT, base)):
            files += [os.path.join(dirpath, n) for n in names]
    files += [os.path.join(ROOT, "ngx_mcp_module", "Containerfile"),
              os.path.join(ROOT, "sandbox-worker", "Containerfile")]
    return sorted(files)


@pytest.mark.parametrize("case", CASES)
def test_no_secret_objects_rendered(rendered, case):
    for obj in rendered[case]["objects"]:
        assert obj["kind"] != "Secret", "Secrets are referenced by name, never rendered from Git"
    text = "\n".join(rendered[case]["manifests"].values())
    assert not WEAK.search(text)


def test_no_passwords_committed():
    for path in deploy_files():
        text = open(path, errors="replace").read()
        assert not WEAK.search(text), path
        if path.endswith((".yaml", ".yml")) and "/templates/" not in path:
            for doc in yaml.safe_load_all(text):
                for keypath, value in leaf_items(doc):
                    key = next((k for k in reversed(keypath) if not k.isdigit()), "")
                    if SECRETISH.search(key) and key not in ALLOWED_SECRETISH:
                        assert value in (None, "", False), f"{path}: {'.'.join(keypath)}"


# -- schemas and values ------------------------------------------------------------

@pytest.mark.parametrize("chart", CHARTS)
def test_schema_is_valid_and_accepts_defaults(chart):
    schema = json.load(open(os.path.join(HELM, chart, "values.schema.json")))
    jsonschema.Draft7Validator.check_schema(schema)
    values = yaml.safe_load(open(os.path.join(HELM, chart, "values.yaml")))
    jsonschema.Draft7Validator(schema).validate(values)
    if chart == "mcp-sandbox":
        for f in TOOLSET_FILES:
            merged = dict(values, **yaml.safe_load(open(f)))
            jsonschema.Draft7Validator(schema).validate(merged)


@pytest.mark.parametrize("chart,sets,message", [
    ("mcp-sandbox", ["limits.memoryMb=64"], "limits.memoryMb"),
    ("mcp-sandbox", ["workspace.type=hostPath"], "workspace.type"),
    ("mcp-sandbox", ["toolset.name=Bad_Name"], "toolset.name"),
    ("mcp-gateway", [DOMAIN, "route.termination=passthrough"], "route.termination"),
    ("mcp-gateway", [DOMAIN, "redis.port=0"], "redis.port"),
    ("mcp-gateway", [DOMAIN, "tenantDefaults.maxBodySize=1 m"], "maxBodySize"),
    ("mcp-gateway", [DOMAIN, "tenantDefaults.sessionRequests=maybe"], "sessionRequests"),
    ("mcp-gateway", [DOMAIN, "unknownKey=1"], "unknownKey"),
    ("mcp-redis", ["persistence.accessMode=ReadWriteMany"], "accessMode"),
    ("mcp-keycloak-realm", [DOMAIN, "client.webOrigins={*}"], "webOrigins"),
    ("mcp-logging", ["source.namespaces=null"], "namespaces"),
])
def test_schema_refuses_bad_values(render, chart, sets, message):
    """values.schema.json, enforced by the renderer with gojsonschema as
    Helm does before rendering."""
    with pytest.raises(RenderError, match=message):
        render(chart, sets=sets)


def test_gateway_refuses_bad_tenant(render, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"tenants": [{"name": "x", "allowRoles": ["a b"],
                                                "tools": [{"name": "t", "roles": ["a"]}]}]}))
    with pytest.raises(RenderError, match="allowRoles"):
        render("mcp-gateway", values=[str(bad)], sets=[DOMAIN])
    bad.write_text(yaml.safe_dump({"tenants": [{"name": "x", "allowRoles": ["a"],
                                                "tools": [{"name": "a*b", "roles": ["a"]}]}]}))
    with pytest.raises(RenderError, match="name"):
        render("mcp-gateway", values=[str(bad)], sets=[DOMAIN])


FREEFORM = {"podLabels", "adminPodLabels", "resources"}


def values_paths(node, prefix=""):
    """Every documented value path: leaves, and lists, label maps and
    resources as one entry."""
    if isinstance(node, dict) and node and prefix.rsplit(".", 1)[-1] not in FREEFORM:
        for k, v in node.items():
            yield from values_paths(v, f"{prefix}.{k}" if prefix else k)
    else:
        yield prefix


@pytest.mark.parametrize("chart", CHARTS)
def test_readme_lists_every_value(chart):
    readme = open(os.path.join(HELM, chart, "README.md")).read()
    values = yaml.safe_load(open(os.path.join(HELM, chart, "values.yaml")))
    documented = set(re.findall(r"^\| `([^`]+)` \|", readme, re.M))
    missing = [p for p in values_paths(values) if p not in documented]
    assert not missing, f"README.md of {chart} does not list: {missing}"
    for path in values_paths(values):
        default = values
        for key in path.split("."):
            default = default[key]
        cell = re.search(r"^\| `" + re.escape(path) + r"` \| `(.*?)` \|", readme, re.M)
        assert cell and json.loads(cell.group(1).replace("\\|", "|")) == default, \
            f"README.md of {chart}: stale default of {path}"
    for f in ("Chart.yaml", "values.yaml", "values.schema.json", "templates/NOTES.txt"):
        assert os.path.exists(os.path.join(HELM, chart, f)), f


# -- nginx -t with the real module -----------------------------------------------

@pytest.fixture(scope="module")
def module_so():
    if not os.path.exists(MODULE_SO):
        subprocess.run(["make", "-s", "module"], cwd=ROOT, check=True, timeout=900,
                       stdin=subprocess.DEVNULL)
    return MODULE_SO


def local_paths(tmp):
    """The image's paths pointed at a temporary directory (only paths that
    must exist for nginx -t), and host names that resolve here: nginx
    resolves upstream and proxy_pass names when it loads its config."""
    for d in ("config", "secrets/redis", "secrets/identity", "idp-ca", "tls", "runtime"):
        os.makedirs(os.path.join(tmp, d), exist_ok=True)
    return {
        "paths": {"module": MODULE_SO, "auditLogFormat": AUDIT_FORMAT,
                  "config": f"{tmp}/config", "secrets": f"{tmp}/secrets", "tls": f"{tmp}/tls",
                  "idpCa": f"{tmp}/idp-ca", "runtime": f"{tmp}/runtime"},
        "redis": {"host": "localhost"},
        "tenantDefaults": {"sandbox": {"host": "localhost"}},
        "idp": {"jwksUrl": "https://localhost:8443/realms/mcp-realm/protocol/openid-connect/certs"},
    }


def write_secret(path, value=None):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write((value or secrets.token_hex(32)) + "\n")


def self_signed(certfile, keyfile):
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=mcp-gateway.mcp-shared.svc", "-keyout", keyfile,
                    "-out", certfile], check=True, capture_output=True, timeout=60)


def nginx_check(render, tmp_path, extra_values, sets=()):
    tmp = str(tmp_path)
    values = local_paths(tmp)
    vfile = tmp_path / "local.yaml"
    vfile.write_text(yaml.safe_dump(values))
    result = render("mcp-gateway", values=[*extra_values, str(vfile)], sets=[DOMAIN, *sets])
    data = gateway_conf(result)
    for name, text in data.items():
        with open(f"{tmp}/config/{name}", "w") as f:
            f.write(text)
    write_secret(f"{tmp}/secrets/redis/password")
    dep = by_kind(result["objects"], "Deployment")[0]
    for vol in dep["spec"]["template"]["spec"]["volumes"]:
        if vol["name"].startswith("identity-"):
            write_secret(f"{tmp}/secrets/identity/{vol['name'][len('identity-'):]}/secret")
    self_signed(f"{tmp}/idp-ca/service-ca.crt", f"{tmp}/idp-ca/key.pem")
    self_signed(f"{tmp}/tls/tls.crt", f"{tmp}/tls/tls.key")
    # start.sh exactly as the pod runs it, with nginx's -t appended
    env = dict(os.environ, PATH=f"{os.path.dirname(NGINX)}:{os.environ.get('PATH', '')}")
    res = subprocess.run(["/bin/sh", f"{tmp}/config/start.sh", "-t"], capture_output=True,
                         text=True, timeout=60, env=env)
    return res, data, tmp


def test_nginx_t_accepts_generated_config(render, module_so, tmp_path):
    res, data, tmp = nginx_check(render, tmp_path, [])
    assert res.returncode == 0, res.stderr
    assert "test is successful" in res.stderr
    redis_conf = open(f"{tmp}/runtime/redis-server.conf").read()
    assert re.fullmatch(r"mcp_redis_server 127\.0\.0\.1:6379;\n", redis_conf)


def test_nginx_t_reencrypt_and_extra_tenant(render, module_so, tmp_path, tmp_path_factory):
    gitops = os.path.join(ROOT, "gitops", "values", "mcp-gateway.yaml")
    extra = example(tmp_path_factory, "tenant", {"tenants": [dict(
        EXAMPLES["gateway-hpa"]["tenants"][0], sandbox={"host": "localhost"},
        audiences=["https://mcp.example.com"])]})
    res, data, _ = nginx_check(render, tmp_path, [gitops, extra],
                               sets=["tenantDefaults.sandbox.host=localhost"])
    assert res.returncode == 0, res.stderr
    assert "listen 8443 ssl;" in data["nginx.conf"]
    assert "mcp_jwt_audience https://mcp.example.com;" in data["nginx.conf"]


def test_nginx_t_refuses_short_identity_secret(render, module_so, tmp_path):
    """The check is real: the module's own validation runs."""
    tmp = str(tmp_path)
    values = local_paths(tmp)
    vfile = tmp_path / "local.yaml"
    vfile.write_text(yaml.safe_dump(values))
    data = gateway_conf(render("mcp-gateway", values=[str(vfile)], sets=[DOMAIN]))
    for name, text in data.items():
        open(f"{tmp}/config/{name}", "w").write(text)
    write_secret(f"{tmp}/secrets/redis/password")
    for f in TOOLSET_FILES:
        name = yaml.safe_load(open(f))["toolset"]["name"]
        write_secret(f"{tmp}/secrets/identity/{name}/secret", "too-short")
    self_signed(f"{tmp}/idp-ca/service-ca.crt", f"{tmp}/idp-ca/key.pem")
    res = subprocess.run(["/bin/sh", f"{tmp}/config/start.sh", "-t"], capture_output=True,
                         text=True, timeout=60)
    assert res.returncode != 0
    assert "mcp_identity_secret_file" in res.stderr


def test_start_sh_fails_closed_on_unresolvable_redis(render, module_so, tmp_path):
    tmp = str(tmp_path)
    values = local_paths(tmp)
    values["redis"]["host"] = "no-such-host.invalid"
    vfile = tmp_path / "local.yaml"
    vfile.write_text(yaml.safe_dump(values))
    data = gateway_conf(render("mcp-gateway", values=[str(vfile)], sets=[DOMAIN]))
    open(f"{tmp}/config/start.sh", "w").write(data["start.sh"])
    res = subprocess.run(["/bin/sh", f"{tmp}/config/start.sh", "-t"], capture_output=True,
                         text=True, timeout=60)
    assert res.returncode != 0 and "cannot resolve the Redis host" in res.stderr


# -- Redis: the generated start.sh against a real redis-server ---------------------

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.skipif(not shutil.which("redis-server"), reason="redis-server not installed")
def test_redis_acl_users(render, tmp_path):
    tmp = str(tmp_path)
    port = free_port()
    values = {"port": port, "persistence": {"enabled": False},
              "paths": {"config": f"{tmp}/config", "secrets": f"{tmp}/secrets",
                        "runtime": f"{tmp}/runtime", "data": f"{tmp}/data"}}
    vfile = tmp_path / "local.yaml"
    vfile.write_text(yaml.safe_dump(values))
    result = render("mcp-redis", values=[str(vfile)])
    data = by_kind(result["objects"], "ConfigMap")[0]["data"]
    os.makedirs(f"{tmp}/config")
    os.makedirs(f"{tmp}/data")
    for name, text in data.items():
        open(f"{tmp}/config/{name}", "w").write(text)
    gw, admin = secrets.token_hex(24), secrets.token_hex(24)
    write_secret(f"{tmp}/secrets/gateway-password", gw)
    write_secret(f"{tmp}/secrets/admin-password", admin)
    conf = data["redis.conf"].replace("bind 0.0.0.0", "bind 127.0.0.1")
    open(f"{tmp}/config/redis.conf", "w").write(conf)
    proc = subprocess.Popen(["/bin/sh", f"{tmp}/config/start.sh"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)

    def cli(user, password, *args):
        env = dict(os.environ, REDISCLI_AUTH=password)
        argv = ["redis-cli", "--no-auth-warning", "-p", str(port)]
        if user:
            argv += ["--user", user]
        return subprocess.run(argv + list(args), capture_output=True, text=True, env=env,
                              timeout=10).stdout.strip()

    try:
        deadline = time.monotonic() + 20
        while cli("mcp-admin", admin, "ping") != "PONG":
            assert proc.poll() is None and time.monotonic() < deadline, "redis did not start"
            time.sleep(0.1)
        stored = open(f"{tmp}/runtime/redis.conf").read()
        assert gw not in stored and admin not in stored, "only password hashes reach redis.conf"
        assert cli("mcp-admin", admin, "hset", "mcp:apikey:0123456789abcdef", "user", "u") == "1"
        assert cli("mcp-gateway", gw, "hmget", "mcp:apikey:0123456789abcdef", "user") == "u"
        assert "NOPERM" in cli("mcp-gateway", gw, "keys", "*")
        assert "NOPERM" in cli("mcp-gateway", gw, "del", "mcp:apikey:0123456789abcdef")
        assert "NOPERM" in cli("mcp-gateway", gw, "hmget", "mcp:apikeys", "x")
        assert cli("mcp-gateway", admin, "ping") != "PONG"
        assert "PONG" not in cli(None, "", "ping")
        # the readiness probe script
        env = dict(os.environ)
        res = subprocess.run(["/bin/sh", f"{tmp}/config/ready.sh"], env=env, timeout=10)
        assert res.returncode == 0
    finally:
        proc.terminate()
        proc.wait(timeout=10)


# -- Containerfiles ------------------------------------------------------------------

CONTAINERFILES = ["ngx_mcp_module/Containerfile", "sandbox-worker/Containerfile"]


def stages(path):
    out = []
    for line in open(os.path.join(ROOT, path)).read().replace("\\\n", " ").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        word, _, rest = line.partition(" ")
        if word.upper() == "FROM":
            out.append({"from": rest, "lines": []})
        else:
            assert out, f"{path}: instruction before FROM"
            out[-1]["lines"].append((word.upper(), rest))
    return out


@pytest.mark.parametrize("path", CONTAINERFILES)
def test_containerfile_multistage_nonroot(path):
    st = stages(path)
    assert len(st) >= 2, "multi-stage"
    assert re.search(r"\bAS build\b", st[0]["from"], re.I)
    final = st[-1]
    assert re.match(r"docker\.io/library/debian:12(-slim)?$|registry\.access\.redhat\.com/ubi9", final["from"])
    users = [rest for word, rest in final["lines"] if word == "USER"]
    assert users, "final stage sets USER"
    uid = users[-1].split(":")[0]
    assert uid.isdigit() and int(uid) != 0, "numeric non-root user (OpenShift assigns the UID)"
    final_text = " ".join(rest for _, rest in final["lines"])
    for tool in ("build-essential", "gcc", " make", "-dev ", "pkg-config", "python3-pip", "curl"):
        assert tool not in final_text + " ", f"{path}: {tool.strip()} in the final image"
    assert any(w == "COPY" and r.startswith("--from=build") for w, r in final["lines"])


def test_sandbox_image_bakes_the_toolsets():
    text = open(os.path.join(ROOT, "sandbox-worker", "Containerfile")).read()
    assert "COPY sandbox-worker/toolsets /opt/mcp/toolsets" in text
    for f in TOOLSET_FILES:
        name = yaml.safe_load(open(f))["toolset"]["name"]
        assert os.path.isdir(os.path.join(ROOT, "sandbox-worker", "toolsets", name)), name


# -- GitOps ----------------------------------------------------------------------------

def gitops_docs():
    for path in sorted(glob.glob(os.path.join(ROOT, "gitops", "**", "*.yaml"), recursive=True)):
        for doc in yaml.safe_load_all(open(path)):
            if doc is not None:
                yield path, doc


def test_gitops_applications_point_at_charts():
    apps = [(p, d) for p, d in gitops_docs() if d.get("kind") == "Application"]
    assert {d["metadata"]["name"] for _, d in apps} >= {"mcp-redis", "mcp-keycloak-realm",
                                                        "mcp-gateway", "mcp-logging",
                                                        "mcp-toolsets"}
    for _, app in apps:
        src = app["spec"]["source"]
        chart = os.path.join(ROOT, src["path"])
        assert os.path.isdir(chart), src["path"]
        for vf in src.get("helm", {}).get("valueFiles", []):
            assert os.path.isfile(os.path.normpath(os.path.join(chart, vf))), vf
        assert app["spec"]["project"] == "mcp"


def test_gitops_applicationset_over_toolsets():
    (appset,) = [d for _, d in gitops_docs() if d.get("kind") == "ApplicationSet"]
    (gen,) = appset["spec"]["generators"]
    pattern = gen["git"]["files"][0]["path"]
    matched = sorted(glob.glob(os.path.join(ROOT, pattern)))
    assert matched == TOOLSET_FILES and matched
    src = appset["spec"]["template"]["spec"]["source"]
    for f in matched:
        vf = src["helm"]["valueFiles"][0].replace("{{ .path.filename }}", os.path.basename(f))
        assert os.path.normpath(os.path.join(ROOT, src["path"], vf)) == f


def test_validated_pattern_layout(render):
    glob_vals = yaml.safe_load(open(os.path.join(ROOT, "gitops", "values-global.yaml")))
    hub = yaml.safe_load(open(os.path.join(ROOT, "gitops", "values-hub.yaml")))
    assert glob_vals["main"]["clusterGroupName"] == hub["clusterGroup"]["name"] == "hub"
    for name, app in hub["clusterGroup"]["applications"].items():
        assert os.path.isdir(os.path.join(ROOT, app["path"])), name
        files = [os.path.join(ROOT, f.lstrip("/")) for f in app.get("extraValueFiles", [])]
        assert all(os.path.isfile(f) for f in files), name
        if os.path.exists(os.path.join(ROOT, app["path"], "Chart.yaml")):
            # what the framework passes: its globals plus the value files
            render(os.path.join(ROOT, app["path"]), values=files,
                   sets=[DOMAIN, "global.hubClusterDomain=apps.hub.example.com"],
                   namespace=app["namespace"])


# -- the renderer behaves like Helm --------------------------------------------------

@pytest.fixture(scope="module")
def probe_chart(tmp_path_factory):
    chart = tmp_path_factory.mktemp("charts") / "probe"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: probe\nversion: 1.2.3\nappVersion: '9'\n")
    (chart / "values.yaml").write_text(
        "big: 1048576\nsmall: 2\nmap: {a: 1, b: 2}\nlist: [1, 2]\nstr: x\n")
    (chart / "templates" / "_h.tpl").write_text('{{- define "probe.x" -}}X{{ . }}{{- end }}')
    (chart / "templates" / "out.yaml").write_text(
        "big: {{ .Values.big }}\nbigint: {{ int .Values.big }}\nsmall: {{ .Values.small }}\n"
        "map: {{ toJson .Values.map }}\nlist: {{ toJson .Values.list }}\n"
        "inc: {{ include \"probe.x\" .Values.str }}\ntpl: {{ tpl \"{{ .Values.str }}y\" . }}\n"
        "missing: [{{ .Values.nothing }}]\nchart: {{ .Chart.Name }}-{{ .Chart.AppVersion }}\n"
        "release: {{ .Release.Name }}/{{ .Release.Namespace }}/{{ .Release.Service }}\n"
        "template: {{ .Template.Name }}\nlookup: {{ lookup \"v1\" \"Secret\" \"ns\" \"n\" | toJson }}\n"
        "yaml: {{ toYaml .Values.map | nindent 2 }}\n")
    (chart / "templates" / "req.yaml").write_text(
        "{{- if .Values.needed }}r: {{ required \"needed is missing\" .Values.needed.x }}{{ end }}\n")
    return str(chart)


def test_renderer_matches_helm_semantics(render, probe_chart, tmp_path):
    over = tmp_path / "o.yaml"
    over.write_text("map: {b: null, c: 3}\nlist: [9]\n")
    out = render(probe_chart, values=[str(over)], name="rel", namespace="ns")
    doc = yaml.safe_load(out["manifests"]["probe/templates/out.yaml"])
    assert doc["big"] == 1.048576e+06          # YAML numbers are float64 in Helm
    assert doc["bigint"] == 1048576
    assert doc["small"] == 2
    assert doc["map"] == {"a": 1, "c": 3}      # maps merged, null deletes a default
    assert doc["list"] == [9]                  # lists replaced, not merged
    assert doc["inc"] == "Xx" and doc["tpl"] == "xy"
    assert doc["missing"] == []                # missingkey=zero, "<no value>" removed
    assert doc["chart"] == "probe-9"
    assert doc["release"] == "rel/ns/Helm"
    assert doc["template"] == "probe/templates/out.yaml"
    assert doc["lookup"] == {}                 # what helm template and Argo CD get
    assert doc["yaml"] == {"a": 1, "c": 3}
    assert "probe/templates/_h.tpl" not in out["manifests"]   # partials are not rendered
    with pytest.raises(RenderError, match=r"execution error at \(probe/templates/req.yaml.*needed is missing"):
        render(probe_chart, sets=["needed.y=1"])
