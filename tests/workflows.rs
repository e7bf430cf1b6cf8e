//! The GitHub workflows pass actionlint (installed by `.ci/run`; the test
//! fails, never skips, without it): expressions, action inputs, runtimes
//! that are not deprecated, and no untrusted value expanded inside `run:`.

use std::path::PathBuf;

fn workflows() -> Vec<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".github/workflows");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    files
}

#[test]
fn every_workflow_passes_actionlint() {
    let files = workflows();
    assert!(files.len() >= 2, "{files:?}");
    let out = std::process::Command::new("actionlint")
        .args(["-no-color", "-shellcheck="])
        .args(&files)
        .output()
        .expect("actionlint is on PATH (scripts/install-tools.sh installs it)");
    assert!(out.status.success(), "{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
}

#[test]
fn untrusted_values_reach_scripts_through_env_only() {
    for file in workflows() {
        let text = std::fs::read_to_string(&file).unwrap();
        let mut in_run = false;
        for (n, line) in text.lines().enumerate() {
            let trimmed = line.trim_start();
            if trimmed.starts_with("run:") || trimmed.starts_with("- run:") {
                in_run = true;
            } else if trimmed.starts_with("- ")
                || trimmed.starts_with("uses:")
                || trimmed.starts_with("with:")
                || trimmed.starts_with("env:")
            {
                in_run = false;
            }
            for untrusted in
                ["github.head_ref", "github.event.pull_request.head.ref", "github.event.pull_request.title", "matrix.build_dir"]
            {
                if in_run && line.contains(untrusted) {
                    panic!("{}:{}: `{untrusted}` expanded inside run: (pass it through env:)\n{line}", file.display(), n + 1);
                }
            }
        }
    }
}

fn workflow(name: &str) -> serde_yaml::Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".github/workflows").join(name);
    serde_yaml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The steps of a job that `uses` an action (any version).
fn uses<'a>(job: &'a serde_yaml::Value, action: &str) -> Vec<&'a serde_yaml::Value> {
    job["steps"].as_sequence().unwrap().iter().filter(|s| s["uses"].as_str().is_some_and(|u| u.split('@').next() == Some(action))).collect()
}

/// AWS credentials come from a role through OIDC, in the jobs that talk to
/// AWS, never from static keys that every action of a job could read.
#[test]
fn aws_credentials_come_through_oidc_not_static_keys() {
    for file in workflows() {
        let text = std::fs::read_to_string(&file).unwrap();
        for key in ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"] {
            assert!(!text.contains(key), "{}: {key}", file.display());
        }
    }
    for (file, job) in [("qualify.yml", "qualify"), ("gc.yml", "gc"), ("base-images.yml", "refresh")] {
        let w = workflow(file);
        let job = &w["jobs"][job];
        assert_eq!(job["permissions"]["id-token"], "write", "{file}");
        let creds = uses(job, "aws-actions/configure-aws-credentials");
        assert_eq!(creds.len(), 1, "{file}");
        assert_eq!(creds[0]["with"]["role-to-assume"], "${{ vars.DCOS_IMAGES_AWS_ROLE_ARN }}", "{file}");
        // Before any step that runs dcos-images.
        let steps = job["steps"].as_sequence().unwrap();
        let at = steps.iter().position(|s| s == creds[0]).unwrap();
        let first_run = steps.iter().position(|s| s["run"].as_str().is_some_and(|r| r.contains("dcos-images"))).unwrap();
        assert!(at < first_run, "{file}: credentials before dcos-images runs");
    }
    // The qualify job's GitHub token reaches the step that needs it only.
    assert!(workflow("qualify.yml")["jobs"]["qualify"]["env"]["GITHUB_TOKEN"].is_null());
}

/// A pull request that touches one base_images.json must not start a build
/// for every directory under it at once.
#[test]
fn the_qualify_matrix_runs_a_bounded_number_of_jobs_at_once() {
    let w = workflow("qualify.yml");
    assert_eq!(w["jobs"]["qualify"]["strategy"]["max-parallel"], "${{ fromJSON(vars.DCOS_IMAGES_MAX_PARALLEL || '4') }}");
}

/// The weekly pull request is opened by an identity whose events start
/// workflows (the GITHUB_TOKEN's do not), and failing to open it fails the job.
#[test]
fn the_base_images_pull_request_starts_ci_and_its_failure_is_seen() {
    let w = workflow("base-images.yml");
    let job = &w["jobs"]["refresh"];
    let token = uses(job, "actions/create-github-app-token");
    assert_eq!(token.len(), 1);
    let id = token[0]["id"].as_str().unwrap();
    let app_token = format!("${{{{ steps.{id}.outputs.token }}}}");
    assert_eq!(uses(job, "actions/checkout")[0]["with"]["token"].as_str(), Some(app_token.as_str()), "pushes as the app");
    let open = job["steps"].as_sequence().unwrap().iter().find(|s| s["run"].as_str().is_some_and(|r| r.contains("gh pr create"))).unwrap();
    assert_eq!(open["env"]["GH_TOKEN"].as_str(), Some(app_token.as_str()));
    let script = open["run"].as_str().unwrap();
    let create = script.lines().find(|l| l.contains("gh pr create")).unwrap();
    assert!(!create.contains("||"), "a failure to open the pull request is not echoed away: {create}");
    assert!(!w.as_mapping().unwrap().values().any(|v| v.as_str().is_some_and(|s| s.contains("github.token"))));
    assert!(!std::fs::read_to_string(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".github/workflows/base-images.yml"))
        .unwrap()
        .contains("github.token"));
}

/// The role's policy (iam/dcos-images-policy.json) parses and grants every
/// EC2 call the binary makes, as the source names them (an operation of the
/// SDK's client, sent), and a statement for every resource and data source
/// of the built-in cluster module.
#[test]
fn the_iam_policy_covers_every_call_of_the_binary_and_every_resource_of_the_module() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let policy: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(root.join("iam/dcos-images-policy.json")).unwrap()).unwrap();
    assert_eq!(policy["Version"], "2012-10-17");
    let statements = policy["Statement"].as_array().unwrap();
    let actions_of = |sid: &str| -> Vec<String> {
        let s = statements.iter().find(|s| s["Sid"] == sid).unwrap_or_else(|| panic!("no statement {sid}"));
        assert_eq!(s["Effect"], "Allow");
        s["Action"].as_array().unwrap().iter().map(|a| a.as_str().unwrap().to_owned()).collect()
    };

    // The binary's calls, from its source: `.<operation>()` followed by
    // `.send()` before the statement ends.
    let mut calls = std::collections::BTreeSet::new();
    for entry in walkdir::WalkDir::new(root.join("src")).into_iter().filter_map(Result::ok) {
        if entry.path().extension().is_none_or(|e| e != "rs") {
            continue;
        }
        let text = std::fs::read_to_string(entry.path()).unwrap();
        for (at, _) in text.match_indices("()") {
            // The name before `()`, after a `.` (whitespace between allowed).
            let before = &text[..at];
            let name_start = before.rfind(|c: char| !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')).map_or(0, |i| i + 1);
            let name = &before[name_start..];
            let Some(receiver) = before[..name_start].trim_end().strip_suffix('.') else { continue };
            // Called on the SDK's client: `….client(region).<op>()`, or a
            // client bound to `c` / `client`.
            let receiver = receiver.trim_end();
            let on_client = receiver.rfind("client(").is_some_and(|i| !receiver[i + 7..].contains('(') && receiver.ends_with(')'))
                || [" c", "(c", " client", "(client"].iter().any(|r| receiver.ends_with(r));
            if !on_client || !name.contains('_') || !name.starts_with(|c: char| c.is_ascii_lowercase()) {
                continue;
            }
            let rest = &text[at + 2..];
            let statement = &rest[..rest.find(';').unwrap_or(rest.len())];
            if statement.contains(".send()") {
                let pascal: String = name.split('_').map(|w| w[..1].to_uppercase() + &w[1..]).collect();
                calls.insert(format!("ec2:{pascal}"));
            }
        }
    }
    assert!(calls.len() >= 25, "{calls:?}");
    for must in ["ec2:DescribeImages", "ec2:TerminateInstances", "ec2:GetImageBlockPublicAccessState", "ec2:DescribeInstanceTypeOfferings"]
    {
        assert!(calls.contains(must), "the source scan missed {must}: {calls:?}");
    }
    let granted = actions_of("DcosImages");
    let missing: Vec<&String> = calls.iter().filter(|c| !granted.contains(c)).collect();
    assert!(missing.is_empty(), "iam/dcos-images-policy.json's DcosImages lacks {missing:?}");
    let unused: Vec<&String> = granted.iter().filter(|g| !calls.contains(*g)).collect();
    assert!(unused.is_empty(), "DcosImages grants what the binary never calls: {unused:?}");

    // packer's documented minimal policy for amazon-ebs.
    let packer = actions_of("Packer");
    for a in ["ec2:RunInstances", "ec2:CreateImage", "ec2:CopyImage", "ec2:RegisterImage", "ec2:CreateKeyPair", "ec2:ModifyImageAttribute"]
    {
        assert!(packer.contains(&a.to_owned()), "Packer lacks {a}");
    }

    // A statement per resource and data source type of cluster/aws.
    let mut types = Vec::new();
    for file in ["main.tf", "outputs.tf", "variables.tf"] {
        let text = std::fs::read_to_string(root.join("cluster/aws").join(file)).unwrap();
        for line in text.lines() {
            for (kind, prefix) in [("resource \"aws_", "Cluster"), ("data \"aws_", "ClusterData")] {
                if let Some(rest) = line.strip_prefix(kind) {
                    let name = &rest[..rest.find('"').unwrap()];
                    let camel: String = name.split('_').map(|w| w[..1].to_uppercase() + &w[1..]).collect();
                    types.push(format!("{prefix}{camel}"));
                }
            }
        }
    }
    assert!(types.len() >= 10, "{types:?}");
    for sid in types {
        assert!(!actions_of(&sid).is_empty(), "{sid}");
    }
}
