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
    /// When EC2 deprecates (or deprecated) it, ISO 8601.
    pub deprecation_time: Option<String>,
}

impl VendorImage {
    /// Whether its deprecation time has passed.
    pub fn is_deprecated(&self) -> bool {
        self.deprecation_time.as_deref().and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok()).is_some_and(|t| t <= chrono::Utc::now())
    }
}

/// What preflight asks of an image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageFacts {
    pub state: String,
    /// ISO 8601; in the past when the image is deprecated.
    pub deprecation_time: Option<String>,
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

    /// Every available image owned by one of `owners` whose name matches
    /// `name` (EC2's wildcards), deprecated ones too: EC2 leaves those out
    /// unless asked, and public images deprecate two years after they are
    /// made, so most of a tree's vendors' images are.
    pub async fn vendor_images(&self, region: &str, owners: &[String], name: &str) -> Result<Vec<VendorImage>, CloudError> {
        let out = self
            .client(region)
            .describe_images()
            .set_owners(Some(owners.to_vec()))
            .filters(Filter::builder().name("name").values(name).build())
            .filters(Filter::builder().name("state").values("available").build())
            .include_deprecated(true)
            .send()
            .await
            .map_err(|e| Self::api_err(region, &format!("list the images named {name}"), e))?;
        Ok(out
            .images()
            .iter()
            .filter_map(|i| {
                Some(VendorImage {
                    id: i.image_id()?.to_owned(),
                    name: i.name().unwrap_or_default().to_owned(),
                    created: i.creation_date().unwrap_or_default().to_owned(),
                    deprecation_time: i.deprecation_time().map(str::to_owned),
                })
            })
            .collect())
    }

    /// An image as preflight needs it: its state and when it is (or was)
    /// deprecated. Deprecated images are asked for too (EC2 leaves them out
    /// unless asked); None when EC2 does not know the id.
    pub async fn image_facts(&self, region: &str, image: &str) -> Result<Option<ImageFacts>, CloudError> {
        use aws_sdk_ec2::error::ProvideErrorMetadata;
        let out = match self.client(region).describe_images().image_ids(image).include_deprecated(true).send().await {
            Ok(out) => out,
            Err(e) if e.code().is_some_and(|c| c.starts_with("InvalidAMIID.")) => return Ok(None),
            Err(e) => return Err(Self::api_err(region, &format!("describe image {image}"), e)),
        };
        Ok(out.images().iter().find(|i| i.image_id() == Some(image)).map(|i| ImageFacts {
            state: i.state().map(|s| s.as_str().to_owned()).unwrap_or_default(),
            deprecation_time: i.deprecation_time().map(str::to_owned),
        }))
    }

    /// Which of `types` are offered where: (type, zone) pairs for
    /// `LocationType::AvailabilityZone`, (type, region) for `Region`.
    pub async fn offerings(
        &self,
        region: &str,
        location_type: aws_sdk_ec2::types::LocationType,
        types: &[String],
    ) -> Result<Vec<(String, String)>, CloudError> {
        let mut pairs = Vec::new();
        let mut token = None;
        loop {
            let out = self
                .client(region)
                .describe_instance_type_offerings()
                .location_type(location_type.clone())
                .filters(Filter::builder().name("instance-type").set_values(Some(types.to_vec())).build())
                .set_next_token(token)
                .send()
                .await
                .map_err(|e| Self::api_err(region, &format!("ask where {} are offered", types.join(", ")), e))?;
            pairs.extend(
                out.instance_type_offerings()
                    .iter()
                    .filter_map(|o| Some((o.instance_type()?.as_str().to_owned(), o.location()?.to_owned()))),
            );
            token = out.next_token().map(str::to_owned);
            if token.is_none() {
                return Ok(pairs);
            }
        }
    }

    /// The region's availability zones that are available and need no
    /// opt-in (Local and Wavelength Zones do), sorted by name.
    pub async fn usable_zones(&self, region: &str) -> Result<Vec<String>, CloudError> {
        let out = self
            .client(region)
            .describe_availability_zones()
            .filters(Filter::builder().name("state").values("available").build())
            .filters(Filter::builder().name("opt-in-status").values("opt-in-not-required").build())
            .send()
            .await
            .map_err(|e| Self::api_err(region, "list the availability zones", e))?;
        let mut zones: Vec<String> = out.availability_zones().iter().filter_map(|z| z.zone_name().map(str::to_owned)).collect();
        zones.sort();
        Ok(zones)
    }

    /// Whether the key pair `name` exists in the region.
    pub async fn key_pair_exists(&self, region: &str, name: &str) -> Result<bool, CloudError> {
        use aws_sdk_ec2::error::ProvideErrorMetadata;
        match self.client(region).describe_key_pairs().key_names(name).send().await {
            Ok(out) => Ok(out.key_pairs().iter().any(|k| k.key_name() == Some(name))),
            Err(e) if e.code() == Some("InvalidKeyPair.NotFound") => Ok(false),
            Err(e) => Err(Self::api_err(region, &format!("describe the key pair {name}"), e)),
        }
    }

    /// The default vCPUs of each of `types` EC2 knows.
    pub async fn vcpus(&self, region: &str, types: &[String]) -> Result<std::collections::BTreeMap<String, i32>, CloudError> {
        let wanted: Vec<aws_sdk_ec2::types::InstanceType> = types.iter().map(|t| t.as_str().into()).collect();
        let out = self
            .client(region)
            .describe_instance_types()
            .set_instance_types(Some(wanted))
            .send()
            .await
            .map_err(|e| Self::api_err(region, "describe the instance types", e))?;
        Ok(out
            .instance_types()
            .iter()
            .filter_map(|t| Some((t.instance_type()?.as_str().to_owned(), t.v_cpu_info()?.default_v_cpus()?)))
            .collect())
    }

    /// The account's block public access for images in the region:
    /// `unblocked` or `block-new-sharing`.
    pub async fn image_block_public_access(&self, region: &str) -> Result<String, CloudError> {
        let out = self
            .client(region)
            .get_image_block_public_access_state()
            .send()
            .await
            .map_err(|e| Self::api_err(region, "ask whether the account blocks public images", e))?;
        Ok(out.image_block_public_access_state().unwrap_or("unblocked").to_owned())
    }

    /// The zone of an existing subnet; None when EC2 does not know it.
    pub async fn subnet_zone(&self, region: &str, subnet: &str) -> Result<Option<String>, CloudError> {
        use aws_sdk_ec2::error::ProvideErrorMetadata;
        match self.client(region).describe_subnets().subnet_ids(subnet).send().await {
            Ok(out) => Ok(out.subnets().first().and_then(|s| s.availability_zone()).map(str::to_owned)),
            Err(e) if e.code() == Some("InvalidSubnetID.NotFound") => Ok(None),
            Err(e) => Err(Self::api_err(region, &format!("describe the subnet {subnet}"), e)),
        }
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
