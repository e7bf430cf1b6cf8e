//! Cross-file checks of the tree. Each check is a function of the loaded tree
//! that pushes diagnostics with a stable code; `validate` runs them all.

pub mod output;

use crate::config::RootConfig;
use crate::diagnostic::{Code, Diagnostic, FileProblem, Severity};
use crate::formats::dcos_images::DcosImages;
use crate::formats::{
    image_id, line_at, line_of, line_of_json_key, line_of_yaml_key, lines_of_yaml_keys, publish_config::PublishStep, RegionImages,
};
use crate::tree::{self, version, BaseImagesFiles, BuildDir, Layout, LoadedBuildDir, Tree, TreeFile};
use std::borrow::Cow;
use std::collections::BTreeSet;
use std::path::{Component, Path};

/// What the checks depend on beyond the tree itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rules {
    /// The cluster is dcos-images' own module (no `cluster.module`): a
    /// profile must give what it has no default for (admin_ips, an ssh key).
    pub builtin_cluster_module: bool,
}

impl Rules {
    pub fn of(config: &RootConfig) -> Rules {
        Rules { builtin_cluster_module: config.cluster.module.is_none() }
    }
}

impl Default for Rules {
    fn default() -> Self {
        Rules::of(&RootConfig::default())
    }
}

/// Everything found in a loaded tree, sorted by file and line.
pub fn validate(tree: &Tree, rules: Rules) -> Vec<Diagnostic> {
    let per_dir =
        tree::parallel_map(tree.dirs.iter().collect(), |d| (in_order(check_build_dir(&tree.base_images, d, rules)), Published::of(d)));
    finish(&tree.base_images, &tree.misplaced, per_dir).into_vec()
}

/// As [`validate`], reading each build directory while checking it and
/// keeping none of its files: memory grows with the diagnostics, not with the
/// tree. A directory `checked` refuses is read only for its dcos_images.yaml,
/// which the cross-directory check compares with the checked ones.
pub fn validate_layout(layout: &Layout, rules: Rules, checked: &(dyn Fn(&BuildDir) -> bool + Sync)) -> Vec<Diagnostic> {
    let per_dir = tree::parallel_map(layout.dirs.iter().collect(), |dir: &BuildDir| {
        if checked(dir) {
            read_and_check(&layout.base_images, dir, None, rules)
        } else {
            (Vec::new(), tree::read_dcos_images(dir).and_then(|mut f| Published::from_file(dir, &mut f)))
        }
    });
    finish(&layout.base_images, &layout.misplaced, per_dir).into_vec()
}

/// The whole tree below `root` walked and validated in one parallel pass:
/// each OS version's build directories are checked by the thread that
/// walked them, as soon as it has (see [`Layout::discover_with`]). The same
/// findings as [`validate_layout`] of the whole tree, with the layout.
pub fn validate_tree(root: &Path, exclude: &[String], rules: Rules) -> Result<(Layout, Findings), tree::TreeError> {
    let (layout, per_dir) =
        Layout::discover_with(root, exclude, &|_, _| true, &|dir, open, bases| read_and_check(bases, dir, open, rules))?;
    let diags = finish(&layout.base_images, &layout.misplaced, per_dir);
    Ok((layout, diags))
}

/// One build directory read, checked and dropped: its findings, sorted here
/// on all cores (the final sort then meets sorted runs), and what it
/// publishes, for the cross-directory checks.
fn read_and_check(
    bases: &BaseImagesFiles,
    dir: &BuildDir,
    open: Option<tree::fs::Dir>,
    rules: Rules,
) -> (Vec<Diagnostic>, Option<Published>) {
    let mut d = tree::load_build_dir_in(dir.clone(), open);
    let diags = in_order(check_build_dir(bases, &d, rules));
    let published = d.dcos_images.as_mut().and_then(|f| Published::from_file(&d.dir, f));
    (diags, published)
}

/// A directory's findings sorted and each once, on the core that found
/// them: [`Findings`] keeps them so.
fn in_order(mut diags: Vec<Diagnostic>) -> Vec<Diagnostic> {
    diags.sort_by(by_order);
    diags.dedup();
    diags
}

fn finish(bases: &BaseImagesFiles, misplaced: &[(String, String)], mut per_dir: Vec<(Vec<Diagnostic>, Option<Published>)>) -> Findings {
    let mut first = Vec::new();
    for (file, why) in misplaced {
        first.push(diag(
            Code::Layout,
            None,
            file,
            None,
            format!("packer.json is not in a build directory: {why}"),
            "move it to <os>/<os-version>/<cloud>/DCOS-<version>/docker-<version>[/<variant>]/, or exclude its directory with `tree.exclude` in dcos-images.yaml",
        ));
    }
    for file in bases.values() {
        first.extend(file.parsed.problems.iter().cloned().map(|p| p.into_diagnostic(None, &file.rel)));
        if let Some(images) = file.value() {
            for (region, image) in &images.0 {
                if !image_id::is_valid(image) {
                    first.push(malformed(None, &file.rel, &file.text, region, image));
                }
            }
        }
    }
    // The directories in the order of their first findings (those without
    // any first): the order the image check meets their images in.
    per_dir.sort_by(|(a, _), (b, _)| match (a.first(), b.first()) {
        (Some(a), Some(b)) => by_order(a, b),
        (a, b) => a.is_some().cmp(&b.is_some()),
    });
    let mut published = Vec::with_capacity(per_dir.len());
    let mut runs = Vec::with_capacity(per_dir.len());
    for (diags, p) in per_dir {
        if !diags.is_empty() {
            runs.push(diags);
        }
        published.extend(p);
    }
    let mut last = Vec::new();
    check_image_reuse(&published, &mut last);
    Findings::of(first, runs, last)
}

/// A validation's findings in their order (by file, line, code; see
/// [`by_order`]), each once. Each build directory's findings stay in the
/// list the core that checked it sorted: the ten-times tree's 34,000
/// findings copied into one list and sorted again were a quarter of the
/// work left on one core after the parallel work (moved between cores,
/// every cache line of them missed).
#[derive(Debug, Default)]
pub struct Findings {
    /// Each sorted, without two equal findings side by side, and all of
    /// one before any of the next.
    runs: Vec<Vec<Diagnostic>>,
}

impl Findings {
    /// `runs` each sorted by [`by_order`], in the order of their first
    /// findings; `first` and `last` the findings of no one run, before and
    /// after theirs among equals. The same as sorting all of them, in that
    /// order, stably by [`by_order`] and dropping repeats.
    fn of(first: Vec<Diagnostic>, mut runs: Vec<Vec<Diagnostic>>, last: Vec<Diagnostic>) -> Findings {
        debug_assert!(runs.iter().all(|r| !r.is_empty() && r.is_sorted_by(|a, b| by_order(a, b).is_le())));
        let apart = runs.windows(2).all(|w| by_order(w[0].last().expect("non-empty"), &w[1][0]).is_lt());
        if apart && Findings::insert_all(&mut runs, first.iter().chain(&last)) {
            return Findings { runs };
        }
        // Directories whose files interleave (a build directory inside
        // another), or a finding of the tree equal in order to one of a
        // directory's: everything in one list, as the order says.
        let mut all: Vec<Diagnostic> = first.into_iter().chain(runs.into_iter().flatten()).chain(last).collect();
        all.sort_by(by_order);
        all.dedup();
        Findings { runs: if all.is_empty() { Vec::new() } else { vec![all] } }
    }

    /// Each of `extra` into the run where it sorts; false, leaving the
    /// runs as they were, if one equals another finding in order (which
    /// of them comes first is then the stable sort's to say).
    fn insert_all<'a>(runs: &mut Vec<Vec<Diagnostic>>, extra: impl Iterator<Item = &'a Diagnostic> + Clone) -> bool {
        let mut at = Vec::new();
        for e in extra.clone() {
            // The last run whose first is before it, or the first run.
            let run = runs.partition_point(|r| by_order(&r[0], e).is_lt()).saturating_sub(1);
            match runs.get(run).map(|r| r.binary_search_by(|d| by_order(d, e))) {
                Some(Ok(_)) => return false,
                Some(Err(i)) => at.push((run, i)),
                None => at.push((0, 0)),
            }
            if runs.get(run + 1).is_some_and(|r| by_order(&r[0], e).is_eq()) {
                return false;
            }
        }
        // Two extras in one place: their own order decides (found apart
        // above only against the runs).
        let mut places: Vec<(usize, usize, &Diagnostic)> = at.into_iter().zip(extra).map(|((r, i), e)| (r, i, e)).collect();
        places.sort_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)).then_with(|| by_order(a.2, b.2)));
        if places.windows(2).any(|w| by_order(w[0].2, w[1].2).is_eq()) {
            return false;
        }
        if runs.is_empty() && !places.is_empty() {
            runs.push(Vec::new());
        }
        // From the back, so that each index still points where it did.
        for (run, i, e) in places.into_iter().rev() {
            runs[run].insert(i, e.clone());
        }
        true
    }

    pub fn iter(&self) -> impl Iterator<Item = &Diagnostic> + Clone {
        self.runs.iter().flatten()
    }

    pub fn len(&self) -> usize {
        self.runs.iter().map(Vec::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.runs.is_empty()
    }

    pub fn into_vec(self) -> Vec<Diagnostic> {
        self.runs.concat()
    }
}

/// Findings already in order and each once (as the validations that
/// return a list give them): one run.
impl From<Vec<Diagnostic>> for Findings {
    fn from(diags: Vec<Diagnostic>) -> Findings {
        debug_assert!(diags.is_sorted_by(|a, b| by_order(a, b).is_le()));
        Findings { runs: if diags.is_empty() { Vec::new() } else { vec![diags] } }
    }
}

impl IntoIterator for Findings {
    type Item = Diagnostic;
    type IntoIter = std::iter::Flatten<std::vec::IntoIter<Vec<Diagnostic>>>;

    fn into_iter(self) -> Self::IntoIter {
        self.runs.into_iter().flatten()
    }
}

/// The order findings are shown in: by file, line, code. The findings of
/// one file share its path ([`crate::diagnostic::shared`]), so two equal
/// paths are nearly always one allocation: compared by address first (the
/// bytes of paths that share their first 50 were most of the sorts).
fn by_order(a: &Diagnostic, b: &Diagnostic) -> std::cmp::Ordering {
    let file = if std::sync::Arc::ptr_eq(&a.file, &b.file) { std::cmp::Ordering::Equal } else { a.file.cmp(&b.file) };
    file.then(a.line.cmp(&b.line)).then(a.code.cmp(&b.code))
}

/// What the cross-directory check needs of one build directory's
/// dcos_images.yaml, kept after its files are dropped.
struct Published {
    build_dir: String,
    os: (String, String),
    file: String,
    /// Each image with its line in the file.
    images: Vec<(String, Option<usize>)>,
}

impl Published {
    /// Copies the images: the tree stays loaded.
    fn of(d: &LoadedBuildDir) -> Option<Published> {
        let f = d.dcos_images.as_ref()?;
        Some(Published::new(&d.dir, &f.rel, &f.text, f.value()?.0.clone()))
    }

    /// Moves the images out of the parsed file, which is dropped next:
    /// copying them was an allocation per image on the worker and a free
    /// from another thread on the main one.
    fn from_file(dir: &BuildDir, f: &mut TreeFile<DcosImages>) -> Option<Published> {
        let images = std::mem::take(&mut f.parsed.value.as_mut()?.0);
        Some(Published::new(dir, &f.rel, &f.text, images))
    }

    fn new(dir: &BuildDir, file: &str, text: &str, images: RegionImages) -> Published {
        // The line of the image's region entry, as the other findings of
        // the file name it: searching the text for each image was a
        // thirtieth of validating the tree (and named a comment's line when
        // a comment mentioned the image first).
        let regions: Vec<&str> = images.keys().map(String::as_str).collect();
        let lines = lines_of_yaml_keys(text, &regions);
        let images = images
            .into_values()
            .zip(lines)
            .map(|(image, line)| {
                let line = line.or_else(|| line_of(text, &image));
                (image, line)
            })
            .collect();
        Published { build_dir: dir.rel.clone(), os: (dir.coords.os.clone(), dir.coords.os_version.clone()), file: file.to_owned(), images }
    }
}

fn diag(
    code: Code,
    build_dir: Option<&str>,
    file: &str,
    line: Option<usize>,
    message: impl Into<Cow<'static, str>>,
    hint: impl Into<Cow<'static, str>>,
) -> Diagnostic {
    FileProblem::new(code, line, message, hint).into_diagnostic(build_dir, file)
}

fn malformed(build_dir: Option<&str>, file: &str, text: &str, region: &str, image: &str) -> Diagnostic {
    let line = line_of(text, image).or_else(|| line_of(text, region));
    diag(Code::MalformedImageId, build_dir, file, line, format!("`{image}` ({region}) is not an AMI id"), image_id::HINT)
}

fn check_build_dir(bases: &BaseImagesFiles, d: &LoadedBuildDir, rules: Rules) -> Vec<Diagnostic> {
    let mut out: Vec<Diagnostic> = Vec::new();
    let bd = Some(d.dir.rel.as_str());
    for (file, problem) in d.file_problems() {
        out.push(problem.clone().into_diagnostic(bd, file));
    }
    check_files_present(d, &mut out);
    check_packer(bases, d, &mut out);
    check_published(bases, d, &mut out);
    check_publish_config(d, &mut out);
    check_profile(d, rules, &mut out);
    out
}

fn check_files_present(d: &LoadedBuildDir, out: &mut Vec<Diagnostic>) {
    let bd = Some(d.dir.rel.as_str());
    if !d.has_install_script {
        out.push(diag(
            Code::MissingFile,
            bd,
            &d.dir.file(tree::INSTALL_SCRIPT),
            None,
            format!("{} is missing", tree::INSTALL_SCRIPT),
            "every build directory installs the DC/OS prerequisites with this script: copy one from a sibling build directory and adapt it",
        ));
    }
    if d.profile.is_none() {
        out.push(diag(
            Code::MissingFile,
            bd,
            &d.dir.file(tree::PROFILE),
            None,
            "no cluster profile (cluster_profile.tfvars)",
            "add cluster_profile.tfvars with the cluster module's variables (dcos_version, num_masters, ...)",
        ));
    }
    if d.has_legacy_profile {
        out.push(diag(
            Code::LegacyFile,
            bd,
            &d.dir.file(tree::LEGACY_PROFILE),
            None,
            "desired_cluster_profile.tfvars is the legacy name of the cluster profile",
            "rename it to cluster_profile.tfvars (`git mv`)",
        ));
    }
    if d.has_setup_sh {
        out.push(diag(
            Code::LegacyFile,
            bd,
            &d.dir.file(tree::LEGACY_SETUP),
            None,
            "setup.sh is a leftover of the old build scripts and is not run",
            "move what it does into install_dcos_prerequisites.sh and delete it",
        ));
    }
}

/// Whether a reference names the install script: the same path once `.`
/// is dropped (`Path`'s equality keeps a leading `./`, so a template that
/// wrote `./install_dcos_prerequisites.sh` had its missing script reported
/// twice). Only a text holding the script's name can be.
fn is_install_script(reference: &str) -> bool {
    reference.contains(tree::INSTALL_SCRIPT)
        && Path::new(reference).components().filter(|c| *c != Component::CurDir).eq(Path::new(tree::INSTALL_SCRIPT).components())
}

/// Whether a relative reference stays inside its directory, looking only at
/// the path (a symlink pointing out is the author's explicit choice).
fn stays_inside(reference: &str) -> bool {
    let mut depth: i32 = 0;
    for c in Path::new(reference).components() {
        match c {
            Component::Normal(_) => depth += 1,
            Component::ParentDir => depth -= 1,
            Component::CurDir => {}
            Component::RootDir | Component::Prefix(_) => return false,
        }
        if depth < 0 {
            return false;
        }
    }
    true
}

fn check_packer(bases: &BaseImagesFiles, d: &LoadedBuildDir, out: &mut Vec<Diagnostic>) {
    let Some(packer) = d.packer.value() else { return };
    let bd = Some(d.dir.rel.as_str());
    let file = d.packer.rel.as_str();
    let text = d.packer.text.as_str();

    for p in &packer.provisioners {
        for named in p.local_files() {
            let reference = if named.path.contains("{{") {
                named.path.replace("{{template_dir}}", ".").replace("{{ template_dir }}", ".")
            } else {
                named.path.clone()
            };
            if image_id::is_templated(&reference) {
                continue;
            }
            // Looked up only for a finding: the line of the path's own
            // string, which the view knows unless the path was written with
            // escapes; then the first place the text names it.
            let line = || match named.at {
                Some(at) => Some(line_at(text, at)),
                None => line_of(text, &format!("\"{}\"", reference.trim_start_matches("./"))).or_else(|| line_of(text, &reference)),
            };
            if !stays_inside(&reference) {
                out.push(diag(
                    Code::PathEscape,
                    bd,
                    file,
                    line(),
                    format!("provisioner file `{reference}` is outside the build directory"),
                    "copy the file into the build directory: a build directory must build the same image on its own",
                ));
            } else if !d.dir.exists(&reference) && !is_install_script(&reference) {
                // (A missing install script has its own diagnostic with a better hint.)
                out.push(diag(
                    Code::MissingFile,
                    bd,
                    file,
                    line(),
                    format!("provisioner file `{reference}` does not exist in the build directory"),
                    "add the file, or fix the path in packer.json (paths are relative to the build directory)",
                ));
            }
        }
    }

    let base = tree::base_images_for(bases, &d.dir);
    if base.is_none() {
        out.push(diag(
            Code::MissingBaseImages,
            bd,
            file,
            None,
            format!("no base_images.json between {} and {}/{}", d.dir.rel, d.dir.coords.os, d.dir.coords.os_version),
            format!(
                "add {}/{}/{}/base_images.json with the vendor's image per region",
                d.dir.coords.os, d.dir.coords.os_version, d.dir.coords.cloud
            ),
        ));
    }
    let base_map = base.and_then(|b| b.value());

    for (i, b) in packer.builders.iter().enumerate() {
        if let Some(source) = &b.source_ami {
            if !image_id::is_templated(source) && !image_id::is_valid(source) {
                let mut dg = malformed(bd, file, text, b.region.as_deref().unwrap_or("source_ami"), source);
                dg.line = line_of_json_key(text, "source_ami", i);
                out.push(dg);
            }
        }
        if let (Some(region), Some(base_file), Some(base_map)) = (&b.region, base, base_map) {
            match base_map.get(region) {
                None => out.push(diag(
                    Code::NoBaseImageForRegion,
                    bd,
                    file,
                    line_of_json_key(text, "region", i),
                    format!("builder region `{region}` has no image in {}", base_file.rel),
                    format!("add \"{region}\": \"ami-...\" to {}, or build in a region it lists", base_file.rel),
                )),
                Some(expected) => {
                    if b.source_ami.as_deref().is_some_and(|s| s != expected && !image_id::is_templated(s)) {
                        out.push(diag(
                            Code::SourceImageMismatch,
                            bd,
                            file,
                            line_of_json_key(text, "source_ami", i),
                            format!(
                                "source_ami is {} but {} says {expected} for {region}",
                                b.source_ami.as_deref().unwrap_or_default(),
                                base_file.rel
                            ),
                            "qualify sets source_ami from base_images.json on every build; set it here too so the file says what is built",
                        ));
                    }
                }
            }
        }
        if b.ami_description.as_deref().is_some_and(|desc| desc != d.dir.rel) {
            out.push(diag(
                Code::DescriptionMismatch,
                bd,
                file,
                line_of_json_key(text, "ami_description", i),
                format!("ami_description is `{}`, not the build directory's path", b.ami_description.as_deref().unwrap_or_default()),
                format!("set \"ami_description\": \"{}\" so an image can be traced back to its directory", d.dir.rel),
            ));
        }
    }
}

fn check_published(bases: &BaseImagesFiles, d: &LoadedBuildDir, out: &mut Vec<Diagnostic>) {
    let bd = Some(d.dir.rel.as_str());
    if let Some(hist_file) = &d.history {
        if let Some(history) = hist_file.value() {
            for build in &history.builds {
                // Nearly every build: nothing to report, and no map built.
                if build.images_all(image_id::is_valid) {
                    continue;
                }
                match build.images() {
                    Err(why) => out.push(diag(
                        Code::InvalidValue,
                        bd,
                        &hist_file.rel,
                        line_of(&hist_file.text, &build.artifact_id),
                        format!("artifact_id `{}`: {why}", build.artifact_id),
                        "artifact_id is `region:ami,region:ami` as packer's manifest writes it; restore it from git history",
                    )),
                    Ok(images) => {
                        for (region, image) in &images {
                            if !image_id::is_valid(image) {
                                out.push(malformed(bd, &hist_file.rel, &hist_file.text, region, image));
                            }
                        }
                    }
                }
            }
        }
    }

    let Some(images_file) = &d.dcos_images else { return };
    let Some(images) = images_file.value() else { return };
    let file = images_file.rel.as_str();
    let text = images_file.text.as_str();
    for (region, image) in &images.0 {
        if !image_id::is_valid(image) {
            out.push(malformed(bd, file, text, region, image));
        }
    }

    // Base images: the applicable file's and the builders' source images.
    let mut base: BTreeSet<&str> = BTreeSet::new();
    if let Some(b) = tree::base_images_for(bases, &d.dir).and_then(|f| f.value()) {
        base.extend(b.0.values().map(String::as_str));
    }
    if let Some(p) = d.packer.value() {
        base.extend(p.builders.iter().filter_map(|b| b.source_ami.as_deref()));
    }
    for (region, image) in &images.0 {
        if base.contains(image.as_str()) {
            out.push(diag(
                Code::PublishedImageIsBaseImage,
                bd,
                file,
                line_of_yaml_key(text, region),
                format!("{region}: {image} is the vendor's base image, not an image built from this directory"),
                "run `dcos-images qualify` for this directory to build and publish a real image, or delete dcos_images.yaml",
            ));
        }
    }

    if let Some(last) = d.history().and_then(|h| h.last_build()) {
        if let Ok(built) = last.images() {
            let hist_rel = d.history.as_ref().map(|h| h.rel.as_str()).unwrap_or_default();
            let differs: Vec<String> = images
                .0
                .iter()
                .filter(|(r, i)| built.get(*r).is_some_and(|b| b != *i))
                .map(|(r, i)| format!("{r}: {i} (last build: {})", built[r]))
                .chain(images.0.keys().filter(|r| !built.contains_key(*r)).map(|r| format!("{r}: not in the last build")))
                .collect();
            if !differs.is_empty() {
                let first_region = images.0.keys().find(|r| built.get(*r) != images.0.get(*r)).cloned().unwrap_or_default();
                out.push(diag(
                    Code::HistoryMismatch,
                    bd,
                    file,
                    line_of_yaml_key(text, &first_region),
                    format!("dcos_images.yaml disagrees with the last build in {hist_rel} ({}): {}", last.packer_run_uuid, differs.join("; ")),
                    "publish the images of the build that was qualified: rerun `dcos-images qualify`, or restore both files from the same publish commit",
                ));
            }
        }
    }

    if let Some(p) = d.packer.value() {
        let wanted: BTreeSet<String> = p.builders.iter().flat_map(|b| b.ami_regions.iter().cloned()).collect();
        let missing: Vec<&String> = wanted.iter().filter(|r| !images.0.contains_key(*r)).collect();
        if !missing.is_empty() {
            out.push(diag(
                Code::RegionMismatch,
                bd,
                file,
                None,
                format!(
                    "ami_regions asks for {} but dcos_images.yaml has no image for {}",
                    wanted.iter().cloned().collect::<Vec<_>>().join(", "),
                    missing.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
                ),
                "rerun `dcos-images qualify` so every region is published, or drop the region from ami_regions",
            ));
        }
    }
}

fn check_publish_config(d: &LoadedBuildDir, out: &mut Vec<Diagnostic>) {
    let bd = Some(d.dir.rel.as_str());
    let Some(config) = d.config() else { return };
    let (file, text) = match &d.publish_config {
        Some(f) => (f.rel.clone(), f.text.as_str()),
        None => (d.dir.file(tree::PUBLISH_CONFIG), ""),
    };
    if config.publish_dcos_images_after == PublishStep::IntegrationTests && !config.run_integration_tests {
        out.push(diag(
            Code::Unpublishable,
            bd,
            &file,
            line_of_yaml_key(text, "run_integration_tests"),
            "publish_dcos_images_after is integration_tests but run_integration_tests is false: the images can never be published",
            "set run_integration_tests: true, or publish after dcos_installation",
        ));
    }
    if config.publish_dcos_images_after == PublishStep::Never && d.dcos_images.is_none() {
        out.push(diag(
            Code::NeverWithoutImages,
            bd,
            &file,
            line_of_yaml_key(text, "publish_dcos_images_after"),
            "publish_dcos_images_after is never, which tests the recorded images, but there is no dcos_images.yaml",
            "publish after a step (packer_build, dcos_installation or integration_tests) for the first build",
        ));
    }
}

/// The DC/OS version a download URL names, when it names one exactly.
/// `.../dcos/stable/2.1.1/...`, `.../testing/2.0.2/commit/<sha>/...`; a URL naming
/// a minor version (`testing/1.12/`) or a pull request is not comparable.
pub fn version_in_download_url(url: &str) -> Option<&str> {
    let parts: Vec<&str> = url.split('/').collect();
    let at = parts.iter().position(|p| matches!(*p, "stable" | "testing" | "EarlyAccess" | "early-access"))?;
    let v = *parts.get(at + 1)?;
    let components = v.split(['-']).next().unwrap_or(v).split('.').count();
    (v.starts_with(|c: char| c.is_ascii_digit()) && components >= 3).then_some(v)
}

fn check_profile(d: &LoadedBuildDir, rules: Rules, out: &mut Vec<Diagnostic>) {
    let Some(profile_file) = &d.profile else { return };
    let Some(profile) = profile_file.value() else { return };
    let bd = Some(d.dir.rel.as_str());
    let file = profile_file.rel.as_str();
    let packer_user = d.packer.value().and_then(|p| p.builders.first()).and_then(|b| b.ssh_username.as_deref());
    for reserved in crate::formats::profile::RESERVED {
        let Some(e) = profile.get(reserved) else { continue };
        // Oracle Linux profiles of the public tree name the image's user,
        // which is what the pipeline sets: harmless, and only redundant.
        if *reserved == "ssh_user" {
            match (e.value.as_str(), packer_user) {
                (Some(v), Some(user)) if v == user => out.push(diag(
                    Code::RedundantVariable,
                    bd,
                    file,
                    Some(e.line),
                    format!("`ssh_user = \"{v}\"` is packer.json's ssh_username, which the pipeline sets anyway"),
                    "delete the `ssh_user` line: the nodes' user is always packer.json's ssh_username",
                )),
                (value, user) => out.push(diag(
                    Code::ReservedTfvar,
                    bd,
                    file,
                    Some(e.line),
                    format!(
                        "`ssh_user` is {} but packer.json's ssh_username is {}: the nodes boot the image built, whose user is packer's",
                        value.map_or_else(|| "not a string".to_owned(), |v| format!("`{v}`")),
                        user.map_or_else(|| "not set".to_owned(), |u| format!("`{u}`"))
                    ),
                    "delete the `ssh_user` line (the pipeline sets it to packer.json's ssh_username), or fix ssh_username in packer.json",
                )),
            }
            continue;
        }
        out.push(diag(
            Code::ReservedTfvar,
            bd,
            file,
            Some(e.line),
            format!(
                "`{reserved}` is set by the pipeline (the image built, its ssh user, the run's name) and must not be set in the profile"
            ),
            format!("delete the `{reserved}` line"),
        ));
    }
    let reading = crate::formats::profile::read(profile);
    out.extend(reading.problems.into_iter().map(|p| p.into_diagnostic(bd, file)));
    // What qualify would refuse before spending anything: one rule each,
    // here, so that validate says it first.
    let spec = &reading.spec;
    if rules.builtin_cluster_module {
        // (A value of the wrong type is an invalid-value already.)
        let written = |names: &[&str]| names.iter().any(|n| profile.get(n).is_some());
        if spec.admin_ips.is_empty() && !written(&["admin_ips", "admin_cidr"]) {
            out.push(diag(
                Code::MissingVariable,
                bd,
                file,
                None,
                "the profile says nothing about who may reach the cluster (admin_ips): the cluster module refuses it, and dcos-images connects to the nodes over ssh",
                "set admin_ips = [\"<your address>/32\"] (terraform-dcos: admin_cidr)",
            ));
        }
        if spec.ssh_keys.is_empty() && !written(&["ssh_key_name", "ssh_public_key", "ssh_public_key_file"]) {
            out.push(diag(
                Code::MissingVariable,
                bd,
                file,
                None,
                "the profile gives the nodes no ssh key: neither ssh_key_name nor ssh_public_key(_file)",
                "set ssh_key_name (an EC2 key pair whose private key your ssh-agent holds) or ssh_public_key_file",
            ));
        }
    }
    if let Err(no) = crate::dcos::installer(spec, &d.dir.coords.dcos_version) {
        out.push(diag(Code::NoInstaller, bd, file, profile.get(no.variable).map(|e| e.line), no.message, no.hint));
    }
    let dir_version = version::canonical_dcos(&d.dir.coords.dcos_version);
    let mut compare = |key: &str, found: &str| {
        if version::canonical_dcos(found) != dir_version {
            let line = profile.get(key).map(|e| e.line);
            out.push(diag(
                Code::DcosVersionMismatch,
                bd,
                file,
                line,
                format!("the directory is DCOS-{} but `{key}` names DC/OS {found}", d.dir.coords.dcos_version),
                "make the directory name and the profile agree: a build directory qualifies exactly one DC/OS version",
            ));
        }
    };
    if let Some(v) = profile.get("dcos_version").and_then(|e| e.value.as_str()) {
        compare("dcos_version", v);
    }
    if let Some(url) = profile.get("custom_dcos_download_path").and_then(|e| e.value.as_str()) {
        if let Some(v) = version_in_download_url(url) {
            compare("custom_dcos_download_path", v);
        }
    }
}

/// One published image under two OS versions means one of the two directories
/// published the other's image.
fn check_image_reuse(published: &[Published], out: &mut Vec<Diagnostic>) {
    use std::collections::hash_map::{Entry, HashMap};
    // Each image's first OS version, by hash: nearly every image is
    // published once, and sorting all 29,000 uses of the ten-times tree by
    // image was 10 M instructions on one core after the parallel work.
    let count = published.iter().map(|p| p.images.len()).sum();
    let mut first_os: HashMap<&str, &(String, String), foldhash::fast::RandomState> =
        HashMap::with_capacity_and_hasher(count, foldhash::fast::RandomState::default());
    let mut reused = Vec::new();
    for p in published {
        for (image, _) in &p.images {
            match first_os.entry(image) {
                Entry::Vacant(v) => {
                    v.insert(&p.os);
                }
                Entry::Occupied(o) if *o.get() != &p.os => reused.push(image.as_str()),
                Entry::Occupied(_) => {}
            }
        }
    }
    if reused.is_empty() {
        return;
    }
    reused.sort_unstable();
    reused.dedup();
    // The uses of the reused images only, sorted by image; stable, so that
    // the uses of one image stay in the tree's order.
    let mut uses: Vec<(&str, &Published, Option<usize>)> = published
        .iter()
        .flat_map(|p| p.images.iter().map(move |(image, line)| (image.as_str(), p, *line)))
        .filter(|(image, _, _)| reused.binary_search(image).is_ok())
        .collect();
    uses.sort_by(|a, b| a.0.cmp(b.0));
    for run in uses.chunk_by(|a, b| a.0 == b.0) {
        for (image, p, line) in run {
            let (_, other, _) = run.iter().find(|(_, o, _)| o.os != p.os).expect("two OS versions");
            out.push(image_reused(image, p, other, *line));
        }
    }
}

/// `image`, published on `line` of `p`'s dcos_images.yaml, is also `other`'s.
fn image_reused(image: &str, p: &Published, other: &Published, line: Option<usize>) -> Diagnostic {
    diag(
        Code::ImageReused,
        Some(&p.build_dir),
        &p.file,
        line,
        format!("{image} is also published by {}, another OS version", other.build_dir),
        "an image is built for one OS version: find which directory built it (ami_description) and requalify the other",
    )
}

/// Counts by severity.
pub fn counts(diags: &[Diagnostic]) -> (usize, usize) {
    let errors = diags.iter().filter(|d| d.severity == Severity::Error).count();
    (errors, diags.len() - errors)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A linear congruential generator: the same cases on every run.
    struct Lcg(u32);

    impl Lcg {
        fn next(&mut self, n: u32) -> u32 {
            self.0 = self.0.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            (self.0 >> 16) % n
        }

        /// Small files, lines and codes, so that findings tie in order and repeat.
        fn finding(&mut self, dir: &str) -> Diagnostic {
            let codes = [Code::ParseError, Code::LegacyVariable, Code::MissingFile];
            let file = format!("{dir}/f{}", self.next(3));
            let message = if self.next(4) == 0 { "other" } else { "same" };
            diag(codes[self.next(3) as usize], Some(dir), &file, Some(self.next(4) as usize), message, "hint")
        }
    }

    #[test]
    fn findings_are_what_one_stable_sort_of_them_all_gives() {
        // Findings that tie in order and repeat, within a directory, between
        // directories and with the findings of the tree; directories whose
        // files interleave (one inside another); findings of the tree
        // before, between and after the directories', or with no
        // directory's at all.
        let mut rng = Lcg(11);
        let (mut fast, mut fell_back) = (0, 0);
        for round in 0..400 {
            let dirs: Vec<String> =
                (0..rng.next(6)).map(|d| if round % 5 == 0 { format!("d{}", d / 2) } else { format!("d{d}") }).collect();
            let runs: Vec<Vec<Diagnostic>> =
                dirs.iter().map(|dir| in_order((0..1 + rng.next(5)).map(|_| rng.finding(dir)).collect())).collect();
            let mut extra = || -> Vec<Diagnostic> {
                (0..rng.next(3))
                    .map(|_| {
                        let dir = ["a", "d0", "d1", "d9", "z"][rng.next(5) as usize];
                        rng.finding(dir)
                    })
                    .collect()
            };
            let (first, last) = (extra(), extra());
            let mut runs = runs;
            runs.sort_by(|a, b| by_order(&a[0], &b[0]));
            let mut want: Vec<Diagnostic> = first.iter().chain(runs.iter().flatten()).chain(&last).cloned().collect();
            want.sort_by(by_order);
            want.dedup();
            let got = Findings::of(first, runs, last);
            if got.runs.len() > 1 {
                fast += 1;
            } else {
                fell_back += 1;
            }
            assert_eq!(got.len(), want.len());
            assert_eq!(got.iter().cloned().collect::<Vec<_>>(), want, "round {round}");
            assert_eq!(got.into_vec(), want);
        }
        // Both ways were taken, many times.
        assert!(fast > 100 && fell_back > 50, "{fast} {fell_back}");
    }

    #[test]
    fn image_reuse_is_found_as_sorting_every_use_found_it() {
        // The check before it grouped by hash: every use sorted by image.
        fn by_sorting(published: &[Published], out: &mut Vec<Diagnostic>) {
            let mut uses: Vec<(&str, &Published, Option<usize>)> =
                published.iter().flat_map(|p| p.images.iter().map(move |(image, line)| (image.as_str(), p, *line))).collect();
            uses.sort_by(|a, b| a.0.cmp(b.0));
            for run in uses.chunk_by(|a, b| a.0 == b.0) {
                if run.iter().all(|(_, p, _)| p.os == run[0].1.os) {
                    continue;
                }
                for (image, p, line) in run {
                    let (_, other, _) = run.iter().find(|(_, o, _)| o.os != p.os).unwrap();
                    out.push(image_reused(image, p, other, *line));
                }
            }
        }
        // Directories of three OS versions publishing images from a small
        // pool, so that images repeat within one OS version, across two and
        // across all three, in every order.
        let mut rng = Lcg(7);
        let mut next = |n| rng.next(n);
        let published: Vec<Published> = (0..60)
            .map(|d| {
                let os = ["centos", "rhel", "flatcar"][next(3) as usize];
                let images = (0..next(4)).map(|l| (format!("ami-{:08x}", next(40)), (l % 3 != 0).then_some(l as usize + 1))).collect();
                Published {
                    build_dir: format!("{os}/{d}"),
                    os: (os.to_owned(), "1".to_owned()),
                    file: format!("{os}/{d}/dcos_images.yaml"),
                    images,
                }
            })
            .collect();
        let (mut got, mut want) = (Vec::new(), Vec::new());
        check_image_reuse(&published, &mut got);
        by_sorting(&published, &mut want);
        assert!(want.len() > 20, "the pool repeats images across OS versions: {}", want.len());
        assert_eq!(got, want);
        // One OS version only: nothing is reused.
        let one_os: Vec<Published> = published.into_iter().filter(|p| p.os.0 == "rhel").collect();
        check_image_reuse(&one_os, &mut got);
        assert_eq!(got.len(), want.len());
    }

    #[test]
    fn download_urls() {
        let v = version_in_download_url;
        assert_eq!(v("https://downloads.dcos.io/dcos/stable/2.1.1/dcos_generate_config.sh"), Some("2.1.1"));
        assert_eq!(v("https://downloads.dcos.io/dcos/testing/2.0.2/commit/236d/dcos_generate_config.sh"), Some("2.0.2"));
        assert_eq!(v("https://downloads.dcos.io/dcos/stable/1.14.0-beta/dcos_generate_config.sh"), Some("1.14.0-beta"));
        assert_eq!(v("https://downloads.dcos.io/dcos/testing/1.12/dcos_generate_config.sh"), None);
        assert_eq!(v("https://downloads.dcos.io/dcos/testing/pull/6326/dcos_generate_config.sh"), None);
        assert_eq!(v("https://example.com/installer.sh"), None);
    }

    #[test]
    fn the_install_script_is_named_as_a_path() {
        for same in [
            "install_dcos_prerequisites.sh",
            "./install_dcos_prerequisites.sh",
            "install_dcos_prerequisites.sh/",
            ".//./install_dcos_prerequisites.sh",
        ] {
            assert!(is_install_script(same), "{same}");
        }
        for other in ["a.sh", "x/install_dcos_prerequisites.sh", "install_dcos_prerequisites.sh.bak", "../install_dcos_prerequisites.sh"] {
            assert!(!is_install_script(other), "{other}");
        }
    }

    #[test]
    fn path_escapes() {
        assert!(stays_inside("install.sh"));
        assert!(stays_inside("./a/../b.sh"));
        assert!(!stays_inside("../common/a.sh"));
        assert!(!stays_inside("a/../../b.sh"));
        assert!(!stays_inside("/etc/passwd"));
    }
}
