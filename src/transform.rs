//! POS menu document → the store's standard [`Menu`], with the store's settings applied.
//!
//! Pure: no I/O, no clock. It returns the menu together with the item-level
//! problems it skipped, so one bad item never fails a whole store. Checks on
//! the whole result (nothing left to show, a suspicious shrink) live in
//! [`check_publishable`].

use std::collections::{BTreeMap, BTreeSet, HashSet};

use crate::config::StoreSettings;
use crate::error::{Kind, StoreError};
use crate::menu::{self, Allergen, Diet, Menu, PublishedImage, StoreInfo};
use crate::pos::doc::{ItemDoc, MenuDoc};

mod facts;
mod variants;
use facts::{nutrition, sold_out_until, windows};
use variants::{apply_variants, check_unique_groups, transform_option_group};

pub use crate::menu::DEFAULT_CURRENCY;

pub use crate::error::Problem;

/// The transformed menu, and what was skipped on the way.
#[derive(Debug)]
pub struct Transformed {
    pub menu: Menu,
    pub problems: Vec<Problem>,
}

/// Maps a provider's menu document into the standard schema for one store.
pub fn transform(store_id: &str, doc: &MenuDoc, settings: &StoreSettings) -> Transformed {
    // What the provider's own mapping left out comes first.
    let mut problems: Vec<Problem> = doc
        .problems
        .iter()
        .map(|problem| Problem::data(problem.subject.clone(), problem.message.clone()))
        .collect();
    let currency = doc
        .currency
        .clone()
        .unwrap_or_else(|| DEFAULT_CURRENCY.into());

    // Categories in display order; document order breaks ties and fills gaps.
    let mut categories: Vec<(i64, usize, menu::Category)> = Vec::new();
    let mut shown_categories = HashSet::new();
    let mut known_categories = HashSet::new();
    for (index, category) in doc.categories.iter().enumerate() {
        if !known_categories.insert(category.category_id.as_str()) {
            problems.push(Problem::data(
                format!("category {}", category.category_id),
                "category id appears twice; the later one is left out",
            ));
            continue;
        }
        let hidden = category.visible == Some(false)
            || settings.hidden_categories.contains(&category.category_id);
        if hidden {
            continue;
        }
        // A window that does not read would sell the category at all hours: leave it out.
        let availability = match windows(&category.availability) {
            Ok(availability) => availability,
            Err(message) => {
                problems.push(Problem::data(
                    format!("category {}", category.category_id),
                    format!("{message}; the category and its items are left out"),
                ));
                continue;
            }
        };
        shown_categories.insert(category.category_id.as_str());
        let order = category.display_order.unwrap_or(index as i64);
        categories.push((
            order,
            index,
            menu::Category {
                id: category.category_id.clone(),
                name: category.name.clone(),
                availability,
                items: Vec::new(),
            },
        ));
    }
    categories.sort_by_key(|(order, index, _)| (*order, *index));

    let mut items_by_category: BTreeMap<&str, Vec<(i64, usize, menu::Item)>> = BTreeMap::new();
    let mut seen_items = HashSet::new();
    for (index, item) in doc.items.iter().enumerate() {
        let subject = format!("item {}", item.item_id);
        if !seen_items.insert(item.item_id.as_str()) {
            problems.push(Problem::data(
                subject,
                "item id appears twice; the later one is left out",
            ));
            continue;
        }
        if !known_categories.contains(item.category_id.as_str()) {
            problems.push(Problem::data(
                subject,
                format!(
                    "names category {}, which the menu does not have",
                    item.category_id
                ),
            ));
            continue;
        }
        let hidden = item.visible == Some(false) || settings.hidden_items.contains(&item.item_id);
        if hidden {
            continue;
        }
        // Every category the item is listed in, each once, with its order there.
        let mut placements = vec![(item.category_id.as_str(), item.display_order)];
        for further in &item.also_in {
            if placements
                .iter()
                .any(|(id, _)| *id == further.category_id.as_str())
            {
                continue;
            }
            if !known_categories.contains(further.category_id.as_str()) {
                problems.push(Problem::data(
                    subject.clone(),
                    format!(
                        "is also listed in category {}, which the menu does not have; \
                         listed in its other categories only",
                        further.category_id
                    ),
                ));
                continue;
            }
            placements.push((further.category_id.as_str(), further.display_order));
        }
        placements.retain(|(id, _)| shown_categories.contains(id));
        if placements.is_empty() {
            continue;
        }
        match transform_item(item, settings) {
            Ok(converted) => {
                for (category_id, display_order) in placements {
                    let order = display_order.unwrap_or(index as i64);
                    items_by_category.entry(category_id).or_default().push((
                        order,
                        index,
                        converted.clone(),
                    ));
                }
            }
            Err(message) => problems.push(Problem::data(subject, message)),
        }
    }

    let categories = categories
        .into_iter()
        .map(|(_, _, mut category)| {
            let mut items = items_by_category
                .remove(category.id.as_str())
                .unwrap_or_default();
            items.sort_by_key(|(order, index, _)| (*order, *index));
            category.items = items.into_iter().map(|(_, _, item)| item).collect();
            category
        })
        .collect();

    Transformed {
        menu: Menu {
            schema_version: menu::SCHEMA_VERSION,
            store: StoreInfo {
                id: store_id.to_string(),
                name: settings.display_name.clone(),
                time_zone: settings.time_zone.clone(),
            },
            currency,
            prices_include_tax: doc.prices_include_tax,
            categories,
        },
        problems,
    }
}

fn transform_item(item: &ItemDoc, settings: &StoreSettings) -> Result<menu::Item, String> {
    let item_groups = item
        .option_groups
        .iter()
        .map(transform_option_group)
        .collect::<Result<Vec<_>, _>>()?;
    check_unique_groups(&item_groups, &[])?;
    let availability = windows(&item.availability)?;
    let (allergens, other_allergens) = if settings.publish_allergens {
        allergens(&item.allergens)
    } else {
        (Vec::new(), Vec::new())
    };
    let mut tags = item.tags.clone();
    let mut dietary = BTreeSet::new();
    for fact in &item.dietary {
        match Diet::recognise(fact) {
            Some(diet) => {
                dietary.insert(diet);
            }
            // A fact outside the vocabulary still reaches the page, as a tag.
            None if !tags.contains(fact) => tags.push(fact.clone()),
            None => {}
        }
    }
    let sold_out = item.sold_out.unwrap_or(false);
    let mut converted = menu::Item {
        id: item.item_id.clone(),
        name: item.name.clone(),
        name_en: item.name_en.clone(),
        description: item.description.clone(),
        tags,
        price: item.price,
        sold_out,
        sold_out_until: sold_out_until(sold_out, item.sold_out_until.as_deref()),
        image: None,
        image_variants: Vec::new(),
        availability,
        allergens,
        other_allergens,
        dietary: dietary.into_iter().collect(),
        nutrition: nutrition(item.nutrition.as_ref()),
        variants: Vec::new(),
        option_groups: item_groups,
        image_id: item.image_id.clone(),
    };
    if item.variants.is_empty() {
        converted.price = settings
            .price_overrides
            .get(&item.item_id)
            .copied()
            .unwrap_or(item.price);
    } else {
        apply_variants(&mut converted, &item.variants, settings)?;
    }
    if converted.price < 0 {
        return Err(format!("negative price {}", converted.price));
    }
    Ok(converted)
}

/// The POS image ids the menu's items ask for.
pub fn wanted_images(menu: &Menu) -> std::collections::BTreeSet<String> {
    menu.items()
        .flat_map(|item| {
            item.image_id
                .iter()
                .chain(item.variants.iter().filter_map(|v| v.image_id.as_ref()))
        })
        .cloned()
        .collect()
}

/// Points each item and variant at its image file and its widths; those
/// whose image did not arrive keep none.
pub fn attach_images(menu: &mut Menu, files: &BTreeMap<String, PublishedImage>) {
    let published = |image_id: &Option<String>| {
        let found = image_id.as_ref().and_then(|image_id| files.get(image_id));
        (
            found.map(|published| format!("/images/{}", published.file)),
            found
                .map(|published| published.variants.clone())
                .unwrap_or_default(),
        )
    };
    for item in menu.items_mut() {
        (item.image, item.image_variants) = published(&item.image_id);
        for variant in &mut item.variants {
            (variant.image, variant.image_variants) = published(&variant.image_id);
        }
    }
}

/// The POS's allergens: those in the vocabulary (sorted, once each), and the
/// rest as written (trimmed, once each, in POS order).
fn allergens(names: &[String]) -> (Vec<Allergen>, Vec<String>) {
    let mut known = BTreeSet::new();
    let mut other: Vec<String> = Vec::new();
    for name in names {
        let name = name.trim();
        if name.is_empty() {
            continue;
        }
        match Allergen::recognise(name) {
            Some(allergen) => {
                known.insert(allergen);
            }
            None if !other.iter().any(|kept| kept == name) => other.push(name.to_string()),
            None => {}
        }
    }
    (known.into_iter().collect(), other)
}

/// Refuses a menu that must not replace the published one.
///
/// A menu with nothing to show is never published. A menu that lost more than
/// `max_shrink_percent` of the published items is held back (POS systems send
/// near-empty menus during their own maintenance) unless `allow_shrink` is set.
pub fn check_publishable(
    menu: &Menu,
    published_items: Option<usize>,
    max_shrink_percent: u8,
    allow_shrink: bool,
) -> Result<(), StoreError> {
    let currency_ok =
        menu.currency.len() == 3 && menu.currency.bytes().all(|b| b.is_ascii_uppercase());
    if !currency_ok {
        return Err(StoreError::new(
            Kind::Unpublishable,
            format!(
                "the POS currency {:?} is not an ISO 4217 code such as KRW",
                menu.currency
            ),
        ));
    }
    let new_items = menu.item_count();
    if new_items == 0 && !allow_shrink {
        return Err(StoreError::new(
            Kind::Unpublishable,
            "the POS menu has no visible items; keeping the published menu \
             (run `menusync once --allow-shrink` to publish it anyway)",
        ));
    }
    if let Some(old_items) = published_items.filter(|&old| old > 0)
        && !allow_shrink
        && new_items < old_items
    {
        let dropped_percent = (old_items - new_items) * 100 / old_items;
        if dropped_percent > usize::from(max_shrink_percent) {
            return Err(StoreError::new(
                Kind::Unpublishable,
                format!(
                    "the menu shrank from {old_items} to {new_items} items ({dropped_percent}% fewer, \
                     more than {max_shrink_percent}%); keeping the published menu \
                     (run `menusync once --allow-shrink` to publish it anyway)"
                ),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
