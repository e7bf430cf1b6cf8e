//! aws-sdk-ec2: image checks and tags. `AWS_ENDPOINT_URL_EC2`, when set, points
//! every client at that endpoint (moto in the tests, LocalStack for users).

use aws_sdk_ec2::config::Region;
use aws_sdk_ec2::error::DisplayErrorContext;
use aws_sdk_ec2::types::{Filter, ImageState, Tag};
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum CloudError {
    #[error("EC2 in {region}: failed to {description}: {message}")]
    Api { region: String, description: String, message: String },
    #[error("EC2 in {region}: image {image} is `{state}`, not available, after {waited:?}")]
    NotAvailable { region: String, image: String, state: String, waited: Duration },
}

/// A vendor's image as EC2 describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VendorImage {
    pub id: String,
    pub name: String,
    pub created: String,
}

#[derive(Clone)]
pub struct Ec2 {
    config: aws_config::SdkConfig,
    endpoint: Option<String>,
}

impl Ec2 {
    /// The default credential chain (environment, profile, SSO, instance role).
    pub async fn load() -> Ec2 {
        let config = aws_config::defaults(aws_config::BehaviorVersion::latest()).load().await;
        let endpoint = std::env::var("AWS_ENDPOINT_URL_EC2").ok().filter(|s| !s.is_empty());
        Ec2 { config, endpoint }
    }

    pub fn client(&self, region: &str) -> aws_sdk_ec2::Client {
        let mut b = aws_sdk_ec2::config::Builder::from(&self.config).region(Region::new(region.to_owned()));
        if let Some(e) = &self.endpoint {
            b = b.endpoint_url(e);
        }
        aws_sdk_ec2::Client::from_conf(b.build())
    }

    pub(crate) fn api_err<E: std::error::Error>(region: &str, description: &str, e: E) -> CloudError {
        CloudError::Api { region: region.to_owned(), description: description.to_owned(), message: DisplayErrorContext(e).to_string() }
    }

    /// The newest available image owned by one of `owners` whose name
    /// matches `name` (EC2's wildcards), by creation date; None when there
    /// is none.
    pub async fn newest_image(&self, region: &str, owners: &[String], name: &str) -> Result<Option<VendorImage>, CloudError> {
        let out = self
            .client(region)
            .describe_images()
            .set_owners(Some(owners.to_vec()))
            .filters(Filter::builder().name("name").values(name).build())
            .filters(Filter::builder().name("state").values("available").build())
            .send()
            .await
            .map_err(|e| Self::api_err(region, &format!("list the images named {name}"), e))?;
        // ISO 8601 dates in one format compare as text; the id breaks ties.
        let newest = out
            .images()
            .iter()
            .filter_map(|i| Some((i.creation_date().unwrap_or_default(), i.image_id()?, i.name().unwrap_or_default())))
            .max_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));
        Ok(newest.map(|(created, id, name)| VendorImage { id: id.to_owned(), name: name.to_owned(), created: created.to_owned() }))
    }

    /// The image's state (`available`, `pending`, `failed`, ...); None when EC2 does not know it.
    pub async fn image_state(&self, region: &str, image: &str) -> Result<Option<String>, CloudError> {
        let out = self
            .client(region)
            .describe_images()
            .image_ids(image)
            .send()
            .await
            .map_err(|e| Self::api_err(region, &format!("describe image {image}"), e))?;
        Ok(out.images().first().and_then(|i| i.state()).map(|s| s.as_str().to_owned()))
    }

    /// Waits until the image is `available`; a failed image or the timeout is an error.
    pub async fn wait_available(&self, region: &str, image: &str, timeout: Duration) -> Result<(), CloudError> {
        let start = tokio::time::Instant::now();
        let mut pause = Duration::from_millis(200);
        loop {
            let state = self.image_state(region, image).await?;
            if state.as_deref() == Some(ImageState::Available.as_str()) {
                return Ok(());
            }
            let waited = start.elapsed();
            if state.as_deref() == Some(ImageState::Failed.as_str()) || waited >= timeout {
                return Err(CloudError::NotAvailable {
                    region: region.to_owned(),
                    image: image.to_owned(),
                    state: state.unwrap_or_else(|| "unknown".into()),
                    waited,
                });
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_secs(15));
        }
    }

    pub async fn tag(&self, region: &str, resource: &str, tags: &[(&str, &str)]) -> Result<(), CloudError> {
        let tags: Vec<Tag> = tags.iter().map(|(k, v)| Tag::builder().key(*k).value(*v).build()).collect();
        self.client(region)
            .create_tags()
            .resources(resource)
            .set_tags(Some(tags))
            .send()
            .await
            .map_err(|e| Self::api_err(region, &format!("tag {resource}"), e))?;
        Ok(())
    }

    /// Of `ids`, those EC2 does not report as terminated (an id EC2 no longer
    /// knows is gone).
    pub async fn instances_not_terminated(&self, region: &str, ids: &[String]) -> Result<Vec<String>, CloudError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let filter = Filter::builder().name("instance-id").set_values(Some(ids.to_vec())).build();
        let description = "describe the cluster's instances";
        let out =
            self.client(region).describe_instances().filters(filter).send().await.map_err(|e| Self::api_err(region, description, e))?;
        Ok(out
            .reservations()
            .iter()
            .flat_map(|r| r.instances())
            .filter(|i| !matches!(i.state().and_then(|s| s.name()).map(|n| n.as_str()), Some("terminated" | "shutting-down")))
            .filter_map(|i| i.instance_id().map(str::to_owned))
            .collect())
    }

    /// Asks EC2 to terminate `ids` (what terraform's state lost track of).
    pub async fn terminate_instances(&self, region: &str, ids: &[String]) -> Result<(), CloudError> {
        if ids.is_empty() {
            return Ok(());
        }
        self.client(region)
            .terminate_instances()
            .set_instance_ids(Some(ids.to_vec()))
            .send()
            .await
            .map_err(|e| Self::api_err(region, "terminate the run's instances", e))?;
        Ok(())
    }
}
