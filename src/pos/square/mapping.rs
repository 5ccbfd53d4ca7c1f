//! Square catalog → menu model, for one location. Pure: no I/O.
//!
//! - An object is at a location when `present_at_all_locations` (default
//!   true) and the location is not in `absent_at_location_ids`, or else when
//!   the location is in `present_at_location_ids`. Items, variations and
//!   modifiers that are not are left out; a category that is not is hidden.
//! - A variation's price and `sold_out` come from its `location_overrides`
//!   entry for the location when there is one, else from `price_money`.
//! - An item goes in its first category (`categories`, else
//!   `reporting_category`, else the older `category_id`) at that category's
//!   ordinal; a category sorts by its `parent_category.ordinal`.
//! - A modifier list's `min/max_selected_modifiers` of `-1` mean unset: the
//!   item's `modifier_list_info` wins over the list, and unset is 0 / no limit
//!   (at most 1 for the older `selection_type: SINGLE`).

use std::collections::HashSet;

use super::{Catalog, CatalogObject, LocationOverride, ModifierListInfo, Money};
use crate::pos::doc::{
    CategoryDoc, DocProblem, ImageDoc, ImagesDoc, ItemDoc, MenuDoc, OptionDoc, OptionGroupDoc,
    VariantDoc,
};

/// Maps the whole catalog for `location`.
pub(super) fn map_catalog(catalog: &Catalog, location: &str) -> (MenuDoc, ImagesDoc) {
    let mut mapper = Mapper {
        catalog,
        location,
        currency: None,
        problems: Vec::new(),
        images: Vec::new(),
    };
    let categories = catalog
        .categories
        .iter()
        .map(|object| mapper.category(object))
        .collect();
    let items = catalog
        .items
        .iter()
        .filter_map(|object| mapper.item(object))
        .collect();
    let menu = MenuDoc {
        store_id: Some(location.to_string()),
        version: None,
        updated_at: None,
        currency: mapper.currency,
        categories,
        items,
        problems: mapper.problems,
    };
    (
        menu,
        ImagesDoc {
            images: mapper.images,
            problems: Vec::new(),
        },
    )
}

struct Mapper<'a> {
    catalog: &'a Catalog,
    location: &'a str,
    /// The currency of the first price seen; every other price must match it.
    currency: Option<String>,
    problems: Vec<DocProblem>,
    images: Vec<ImageDoc>,
}

/// Whether `object` is sold at `location`.
fn present(object: &CatalogObject, location: &str) -> bool {
    let listed = |ids: &[String]| ids.iter().any(|id| id == location);
    if object.present_at_all_locations.unwrap_or(true) {
        !listed(&object.absent_at_location_ids)
    } else {
        listed(&object.present_at_location_ids)
    }
}

/// The override for `location`, if the object has one.
fn override_for<'o>(
    overrides: &'o [LocationOverride],
    location: &str,
) -> Option<&'o LocationOverride> {
    overrides
        .iter()
        .find(|entry| entry.location_id.as_deref() == Some(location))
}

/// Square's `-1` (and anything negative) means unset.
fn set(value: Option<i64>) -> Option<u32> {
    value.and_then(|value| u32::try_from(value).ok())
}

/// Objects in `ordinal` order; document order breaks ties and places those without one last.
fn by_ordinal<'o>(
    objects: impl Iterator<Item = &'o CatalogObject>,
    ordinal: impl Fn(&CatalogObject) -> Option<i64>,
) -> Vec<&'o CatalogObject> {
    let mut sorted: Vec<(i64, usize, &CatalogObject)> = objects
        .enumerate()
        .map(|(index, object)| (ordinal(object).unwrap_or(i64::MAX), index, object))
        .collect();
    sorted.sort_by_key(|(ordinal, index, _)| (*ordinal, *index));
    sorted.into_iter().map(|(_, _, object)| object).collect()
}

impl Mapper<'_> {
    fn problem(&mut self, subject: String, message: impl Into<String>) {
        self.problems.push(DocProblem {
            subject,
            message: message.into(),
        });
    }

    fn category(&self, object: &CatalogObject) -> CategoryDoc {
        let data = object.category_data.clone().unwrap_or_default();
        CategoryDoc {
            category_id: object.id.clone(),
            name: data.name.unwrap_or_default(),
            display_order: data.parent_category.and_then(|parent| parent.ordinal),
            visible: Some(present(object, self.location)),
        }
    }

    /// One item, or `None` when it is archived, not at the location, or unmappable.
    fn item(&mut self, object: &CatalogObject) -> Option<ItemDoc> {
        let data = object.item_data.as_ref()?;
        if data.is_archived == Some(true) || !present(object, self.location) {
            return None;
        }
        let subject = format!("item {}", object.id);
        let placement = data
            .categories
            .first()
            .or(data.reporting_category.as_ref())
            .and_then(|category| Some((category.id.clone()?, category.ordinal)))
            .or_else(|| data.category_id.clone().map(|id| (id, None)));
        let Some((category_id, display_order)) = placement else {
            self.problem(subject, "has no category to be listed under");
            return None;
        };
        let variants = self.variants(object)?;
        let Some(first) = variants.first() else {
            self.problem(
                subject,
                format!(
                    "has no variation with a fixed price at location {}",
                    self.location
                ),
            );
            return None;
        };
        Some(ItemDoc {
            item_id: object.id.clone(),
            category_id,
            name: data.name.clone().unwrap_or_default(),
            name_en: None,
            description: data.description.clone().filter(|text| !text.is_empty()),
            price: first.price,
            display_order,
            sold_out: None,
            visible: None,
            image_id: self.image(&data.image_ids),
            tags: Vec::new(),
            option_groups: self.option_groups(object, &data.modifier_list_info),
            variants,
        })
    }

    /// The item's variations at the location, nested or top-level, in ordinal order.
    /// `None` when a price is in another currency than the menu's.
    fn variants(&mut self, item: &CatalogObject) -> Option<Vec<VariantDoc>> {
        let catalog = self.catalog;
        let nested = item
            .item_data
            .iter()
            .flat_map(|data| data.variations.iter());
        let nested_ids: HashSet<&str> = nested.clone().map(|object| object.id.as_str()).collect();
        let top_level = catalog.variations.iter().filter(|object| {
            !nested_ids.contains(object.id.as_str())
                && object
                    .item_variation_data
                    .as_ref()
                    .and_then(|data| data.item_id.as_deref())
                    == Some(item.id.as_str())
        });
        let ordered = by_ordinal(nested.chain(top_level), |object| {
            object.item_variation_data.as_ref()?.ordinal
        });
        let mut variants = Vec::new();
        for object in ordered {
            if object.is_deleted == Some(true) || !present(object, self.location) {
                continue;
            }
            let data = object.item_variation_data.clone().unwrap_or_default();
            let local = override_for(&data.location_overrides, self.location);
            let money = local
                .and_then(|entry| entry.price_money.clone())
                .or(data.price_money);
            let fixed = data.pricing_type.as_deref() != Some("VARIABLE_PRICING");
            let Some((price, currency)) = money.filter(|_| fixed).and_then(split_money) else {
                let subject = format!("variation {} of item {}", object.id, item.id);
                self.problem(subject, "has no fixed price; left out");
                continue;
            };
            if !self.same_currency(&item.id, currency) {
                return None;
            }
            variants.push(VariantDoc {
                variant_id: object.id.clone(),
                name: data.name.unwrap_or_default(),
                price,
                sold_out: local.and_then(|entry| entry.sold_out),
                is_default: None,
                option_groups: Vec::new(),
            });
        }
        Some(variants)
    }

    /// Records the menu's currency from the first price; refuses an item priced in another.
    fn same_currency(&mut self, item_id: &str, currency: Option<String>) -> bool {
        let Some(currency) = currency else {
            return true;
        };
        match &self.currency {
            None => {
                self.currency = Some(currency);
                true
            }
            Some(menu) if *menu == currency => true,
            Some(menu) => {
                let message = format!("is priced in {currency}, the menu in {menu}");
                self.problem(format!("item {item_id}"), message);
                false
            }
        }
    }

    /// The item's first image, listed in the image documents when it has a URL.
    fn image(&mut self, image_ids: &[String]) -> Option<String> {
        let id = image_ids.first()?;
        let url = self
            .catalog
            .images
            .get(id)?
            .image_data
            .as_ref()?
            .url
            .clone()?;
        if !self.images.iter().any(|image| image.image_id == *id) {
            self.images.push(ImageDoc {
                image_id: id.clone(),
                url,
                sha256: None,
                content_type: None,
                size: None,
                updated_at: None,
            });
        }
        Some(id.clone())
    }

    fn option_groups(
        &mut self,
        item: &CatalogObject,
        infos: &[ModifierListInfo],
    ) -> Vec<OptionGroupDoc> {
        let mut ordered: Vec<(i64, usize, &ModifierListInfo)> = infos
            .iter()
            .enumerate()
            .map(|(index, info)| (info.ordinal.unwrap_or(i64::MAX), index, info))
            .collect();
        ordered.sort_by_key(|(ordinal, index, _)| (*ordinal, *index));
        let catalog = self.catalog;
        let mut groups = Vec::new();
        for (_, _, info) in ordered {
            if info.enabled == Some(false) {
                continue;
            }
            let Some(list) = catalog.modifier_lists.get(&info.modifier_list_id) else {
                let subject = format!(
                    "modifier list {} of item {}",
                    info.modifier_list_id, item.id
                );
                self.problem(subject, "is not in the catalog; left out");
                continue;
            };
            if let Some(group) = self.option_group(list, info) {
                groups.push(group);
            }
        }
        groups
    }

    /// A modifier list as an option group, or `None` when customers do not see it here.
    fn option_group(
        &self,
        list: &CatalogObject,
        info: &ModifierListInfo,
    ) -> Option<OptionGroupDoc> {
        let data = list.modifier_list_data.as_ref()?;
        let text_only = data.modifier_type.as_deref() == Some("TEXT");
        if text_only || data.hidden_from_customer == Some(true) || !present(list, self.location) {
            return None;
        }
        let single = data.selection_type.as_deref() == Some("SINGLE");
        let min_select = set(info.min_selected_modifiers).or(set(data.min_selected_modifiers));
        let max_select = set(info.max_selected_modifiers)
            .or(set(data.max_selected_modifiers))
            .or(single.then_some(1));
        let modifiers = by_ordinal(data.modifiers.iter(), |object| {
            object.modifier_data.as_ref()?.ordinal
        });
        let options = modifiers
            .into_iter()
            .enumerate()
            .filter_map(|(index, object)| self.option(list, index, object))
            .collect();
        Some(OptionGroupDoc {
            group_id: list.id.clone(),
            name: data.name.clone().unwrap_or_default(),
            min_select: Some(min_select.unwrap_or(0)),
            max_select,
            options,
        })
    }

    fn option(
        &self,
        list: &CatalogObject,
        index: usize,
        object: &CatalogObject,
    ) -> Option<OptionDoc> {
        let data = object.modifier_data.as_ref()?;
        if object.is_deleted == Some(true)
            || data.hidden_online == Some(true)
            || !present(object, self.location)
        {
            return None;
        }
        let local = override_for(&data.location_overrides, self.location);
        let money = local
            .and_then(|entry| entry.price_money.clone())
            .or(data.price_money.clone());
        let option_id = if object.id.is_empty() {
            format!("{}-{index}", list.id)
        } else {
            object.id.clone()
        };
        Some(OptionDoc {
            option_id,
            name: data.name.clone().unwrap_or_default(),
            price: money.and_then(|money| money.amount).unwrap_or(0),
            sold_out: local.and_then(|entry| entry.sold_out),
        })
    }
}

/// A money amount (already in minor units) and its currency.
fn split_money(money: Money) -> Option<(i64, Option<String>)> {
    Some((money.amount?, money.currency))
}

#[cfg(test)]
mod tests;
