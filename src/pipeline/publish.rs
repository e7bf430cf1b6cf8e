//! Publishing: the build directory's results written atomically, committed
//! (exactly those files) with the bot identity, and pushed.

use crate::formats::dcos_images::DcosImages;
use crate::formats::packer::PackerTemplate;
use crate::tools::git::Git;
use crate::tree::{DCOS_IMAGES, HISTORY, PACKER};
use std::path::{Path, PathBuf};

/// What a publish writes: file name -> contents.
pub struct Results {
    pub files: Vec<(&'static str, String)>,
}

impl Results {
    /// dcos_images.yaml, the history with the new build, and packer.json with
    /// the base image that was built from and the directory as description.
    pub fn new(
        images: &DcosImages,
        history_text: &str,
        template: &PackerTemplate,
        template_text: &str,
        base: &crate::formats::RegionImages,
        rel: &str,
    ) -> Results {
        let mut edits = Vec::new();
        for (i, b) in template.builders.iter().enumerate() {
            if let Some(image) = b.region.as_deref().and_then(|r| base.get(r)) {
                edits.push((i, "source_ami", image.as_str()));
            }
            edits.push((i, "ami_description", rel));
        }
        let packer = template.edit_text(template_text, &edits);
        Results { files: vec![(DCOS_IMAGES, images.to_yaml()), (HISTORY, history_text.to_owned()), (PACKER, packer)] }
    }

    /// Only the files whose content differs from what `dir` holds.
    pub fn changed(&self, dir: &Path) -> Results {
        let files = self
            .files
            .iter()
            .filter(|(name, text)| std::fs::read(dir.join(name)).ok().as_deref() != Some(text.as_bytes()))
            .cloned()
            .collect();
        Results { files }
    }

    /// Writes every file into `dir`, each atomically.
    pub fn write(&self, dir: &Path) -> Result<Vec<PathBuf>, (PathBuf, std::io::Error)> {
        self.files
            .iter()
            .map(|(name, text)| {
                let p = dir.join(name);
                crate::fsutil::write_atomic(&p, text.as_bytes()).map(|_| p.clone()).map_err(|e| (p, e))
            })
            .collect()
    }
}

/// Where and as whom the publish commit goes; checked before anything runs.
#[derive(Debug, Clone)]
pub struct PublishTarget {
    pub git: Git,
    pub remote: String,
    pub branch: String,
    pub identity: (String, String),
}

impl PublishTarget {
    /// How many times a rejected push is rebased and retried.
    pub const PUSH_ATTEMPTS: u32 = 5;

    /// Commits `written` and pushes; the pushed commit's sha.
    pub fn commit_and_push(&self, build_dir: &str, written: &[PathBuf]) -> Result<String, crate::tools::git::PushError> {
        let paths: Vec<String> =
            written.iter().map(|p| p.strip_prefix(&self.git.repo).unwrap_or(p).to_string_lossy().into_owned()).collect();
        let message = format!("Publish dcos_images.yaml for {build_dir}");
        self.git.commit_paths(&message, (&self.identity.0, &self.identity.1), &paths)?;
        self.git.push_rebasing(&self.remote, &self.branch, Self::PUSH_ATTEMPTS)?;
        Ok(self.git.run("read the publish commit", &["rev-parse", "HEAD"])?.trim().to_owned())
    }
}
