//! `dcos-images list`, `find` and `tree`: the tree for people and scripts.

use crate::browse::{self, Filter, FindOutcome, ListFormat};
use crate::cli::Invocation;
use crate::error::{exit, Error};

// Its arguments; the command's help is its doc comment in cli.rs.
#[derive(Debug, clap::Args)]
pub struct ListArgs {
    #[command(flatten)]
    pub filter: Filter,
    #[arg(long, value_enum, default_value_t = ListFormat::Table)]
    pub format: ListFormat,
}

// Its arguments; the command's help is its doc comment in cli.rs.
#[derive(Debug, clap::Args)]
pub struct FindArgs {
    #[command(flatten)]
    pub filter: Filter,
    #[arg(long, value_enum, default_value_t = FindFormat::Text)]
    pub format: FindFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FindFormat {
    /// `IMAGE REGION PATH` per line.
    Text,
    Json,
}

pub fn list(inv: &Invocation, args: &ListArgs) -> Result<u8, Error> {
    let rows = inv.rows(&args.filter)?;
    print!("{}", browse::render_list(&rows, args.format));
    // Left to the process's exit, as the layout (Invocation::rows).
    std::mem::forget(rows);
    Ok(exit::SUCCESS)
}

pub fn tree(inv: &Invocation) -> Result<u8, Error> {
    let all = Filter::default();
    let rows = inv.rows(&all)?;
    print!("{}", browse::render_tree(&rows));
    std::mem::forget(rows);
    Ok(exit::SUCCESS)
}

pub fn find(inv: &Invocation, args: &FindArgs) -> Result<u8, Error> {
    let filter = &args.filter;
    if filter.os.is_none() || filter.os_version.is_none() || filter.dcos.is_none() {
        return Err(Error::usage(
            "find needs --os, --os-version and --dcos",
            "e.g. dcos-images find --os centos --os-version 7.8 --dcos 2.1.1 --region us-west-2",
        ));
    }
    // The directories asked about are read first; the whole tree only
    // when none matches, to name the nearest ones.
    let all_regions = Filter { region: None, ..filter.clone() };
    let outcome = match browse::find(&inv.rows(&all_regions)?, filter) {
        FindOutcome::NotFound { nearest, .. } if nearest.is_empty() => browse::find(&inv.rows(&Filter::default())?, filter),
        outcome => outcome,
    };
    match outcome {
        FindOutcome::Found(found) => {
            match args.format {
                FindFormat::Text => found.iter().for_each(|(image, region, path)| println!("{image} {region} {path}")),
                FindFormat::Json => {
                    let items: Vec<_> = found
                        .iter()
                        .map(|(image, region, path)| serde_json::json!({"image": image, "region": region, "path": path}))
                        .collect();
                    println!("{}", serde_json::to_string_pretty(&items).expect("serializes"));
                }
            }
            Ok(exit::SUCCESS)
        }
        FindOutcome::NotFound { reason, nearest } => {
            eprintln!("{reason}");
            if nearest.is_empty() {
                eprintln!("nothing near it in the tree; `dcos-images tree` shows what there is");
            } else {
                eprintln!("nearest:");
                for r in &nearest {
                    let images = if r.images.is_empty() {
                        "not qualified".to_owned()
                    } else {
                        r.images.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(" ")
                    };
                    eprintln!("  {}  {images}", r.path);
                }
            }
            Ok(exit::NEGATIVE)
        }
    }
}
