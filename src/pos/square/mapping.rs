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
//!   It is listed in every further category of `categories` too.
//! - A modifier list's `min/max_selected_modifiers` of `-1` mean unset: the
//!   item's `modifier_list_info` wins over the list, and unset is 0 / no limit
//!   (at most 1 for the older `selection_type: SINGLE`).
//! - A variation whose override at the location is `VARIABLE_PRICING` has no
//!   price the site can show: it is left out and logged.
//! - What Square hides from online ordering stays hidden: a category with
//!   `online_visibility: false`, an item with `available_online: false` or an
//!   `ecom_visibility` of `HIDDEN`/`UNAVAILABLE`, a modifier `hidden_online`
//!   (or its item's `hidden_online_override`).
//! - A category's `availability_period_ids` become its windows; an item's
//!   `food_and_beverage_details` its allergens (`ingredients`), dietary facts
//!   and calories; the location's enabled taxes say whether prices include tax
//!   (all `INCLUSIVE`: yes, all `ADDITIVE`: no, none or mixed: not said).

use std::collections::HashSet;

use super::wire::{
    Catalog, CatalogObject, FoodFact, LocationOverride, ModifierListInfo, Money, set, toggle,
};
use crate::menu::{Nutrition, NutritionBasis};
use crate::pos::doc::{
    CategoryDoc, DocProblem, ImageDoc, ImagesDoc, ItemDoc, MenuDoc, OptionDoc, OptionGroupDoc,
    PlacementDoc, VariantDoc, WindowDoc,
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
        prices_include_tax: prices_include_tax(catalog, location),
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

/// Whether the location's enabled taxes are all in the prices, all on top, or neither.
fn prices_include_tax(catalog: &Catalog, location: &str) -> Option<bool> {
    let mut kinds = catalog
        .taxes
        .iter()
        .filter(|tax| tax.is_at(location))
        .filter_map(|tax| tax.tax_data.as_ref())
        .filter(|data| data.enabled != Some(false))
        .map(|data| data.inclusion_type.as_deref());
    let first = kinds.next()?;
    if !kinds.all(|kind| kind == first) {
        return None;
    }
    match first {
        Some("INCLUSIVE") => Some(true),
        Some("ADDITIVE") => Some(false),
        _ => None,
    }
}

/// Entries in `ordinal` order; document order breaks ties and places those without one last.
fn by_ordinal<T>(entries: impl Iterator<Item = T>, ordinal: impl Fn(&T) -> Option<i64>) -> Vec<T> {
    let mut sorted: Vec<(i64, usize, T)> = entries
        .enumerate()
        .map(|(index, entry)| (ordinal(&entry).unwrap_or(i64::MAX), index, entry))
        .collect();
    sorted.sort_by_key(|(ordinal, index, _)| (*ordinal, *index));
    sorted.into_iter().map(|(_, _, entry)| entry).collect()
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
        let availability = data
            .availability_period_ids
            .iter()
            .filter_map(|id| self.catalog.periods.get(id))
            .filter(|period| period.is_deleted != Some(true))
            .filter_map(|period| {
                let data = period.availability_period_data.as_ref()?;
                Some(WindowDoc {
                    days: vec![data.day_of_week.clone()?],
                    start: data.start_local_time.clone()?,
                    end: data.end_local_time.clone()?,
                })
            })
            .collect();
        CategoryDoc {
            category_id: object.id.clone(),
            name: data.name.unwrap_or_default(),
            display_order: data.parent_category.and_then(|parent| parent.ordinal),
            visible: Some(object.is_at(self.location) && data.online_visibility != Some(false)),
            availability,
        }
    }

    /// One item, or `None` when it is archived, not at the location, or unmappable.
    fn item(&mut self, object: &CatalogObject) -> Option<ItemDoc> {
        let data = object.item_data.as_ref()?;
        if data.is_archived == Some(true) || !object.is_at(self.location) {
            return None;
        }
        let hidden_online = data.available_online == Some(false)
            || matches!(
                data.ecom_visibility.as_deref(),
                Some("HIDDEN" | "UNAVAILABLE")
            );
        if hidden_online {
            return None;
        }
        let subject = format!("item {}", object.id);
        let mut placements = data
            .categories
            .iter()
            .filter_map(|category| Some((category.id.clone()?, category.ordinal)));
        let placement = placements
            .next()
            .or_else(|| {
                let reporting = data.reporting_category.as_ref()?;
                Some((reporting.id.clone()?, reporting.ordinal))
            })
            .or_else(|| data.category_id.clone().map(|id| (id, None)));
        let Some((category_id, display_order)) = placement else {
            self.problem(subject, "has no category to be listed under");
            return None;
        };
        let also_in = placements
            .map(|(category_id, display_order)| PlacementDoc {
                category_id,
                display_order,
            })
            .collect();
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
        let food = data.food_and_beverage_details.clone().unwrap_or_default();
        let fact_name = |fact: &FoodFact| {
            fact.standard_name
                .clone()
                .or_else(|| fact.custom_name.clone())
                .filter(|name| !name.trim().is_empty())
        };
        let nutrition = food
            .calorie_count
            .filter(|kcal| *kcal >= 0)
            .map(|kcal| Nutrition {
                basis: NutritionBasis::Serving,
                energy_kcal: Some(kcal as f64),
                fat_g: None,
                carbohydrate_g: None,
                sugars_g: None,
                protein_g: None,
                salt_g: None,
            });
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
            also_in,
            availability: Vec::new(),
            allergens: food.ingredients.iter().filter_map(fact_name).collect(),
            dietary: food
                .dietary_preferences
                .iter()
                .filter_map(fact_name)
                .collect(),
            nutrition,
            sold_out_until: None,
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
            if object.is_deleted == Some(true) || !object.is_at(self.location) {
                continue;
            }
            let data = object.item_variation_data.clone().unwrap_or_default();
            let local = LocationOverride::find(&data.location_overrides, self.location);
            if local.and_then(|entry| entry.pricing_type.as_deref()) == Some("VARIABLE_PRICING") {
                let subject = format!("variation {} of item {}", object.id, item.id);
                self.problem(
                    subject,
                    format!(
                        "is priced at the till at location {} (VARIABLE_PRICING); left out",
                        self.location
                    ),
                );
                continue;
            }
            let money = local
                .and_then(|entry| entry.price_money.clone())
                .or(data.price_money);
            let fixed = data.pricing_type.as_deref() != Some("VARIABLE_PRICING");
            let Some((price, currency)) = money.filter(|_| fixed).and_then(Money::split) else {
                let subject = format!("variation {} of item {}", object.id, item.id);
                self.problem(subject, "has no fixed price; left out");
                continue;
            };
            if !self.same_currency(&item.id, currency) {
                return None;
            }
            let sold_out = local.and_then(|entry| entry.sold_out);
            variants.push(VariantDoc {
                variant_id: object.id.clone(),
                name: data.name.unwrap_or_default(),
                price,
                sold_out,
                is_default: None,
                option_groups: Vec::new(),
                image_id: self.image(&data.image_ids),
                sold_out_until: local
                    .filter(|_| sold_out == Some(true))
                    .and_then(|entry| entry.sold_out_valid_until.clone()),
                nutrition: None,
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
        let catalog = self.catalog;
        let mut groups = Vec::new();
        for info in by_ordinal(infos.iter(), |info| info.ordinal) {
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
        if text_only || data.hidden_from_customer == Some(true) || !list.is_at(self.location) {
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
            .filter_map(|(index, object)| self.option(list, info, index, object))
            .collect();
        let allow_quantities = toggle(info.allow_quantities.as_deref()).or(data.allow_quantities);
        Some(OptionGroupDoc {
            group_id: list.id.clone(),
            name: data.name.clone().unwrap_or_default(),
            min_select: Some(min_select.unwrap_or(0)),
            max_select,
            allow_quantities,
            options,
        })
    }

    fn option(
        &self,
        list: &CatalogObject,
        info: &ModifierListInfo,
        index: usize,
        object: &CatalogObject,
    ) -> Option<OptionDoc> {
        let data = object.modifier_data.as_ref()?;
        let item_override = info
            .modifier_overrides
            .iter()
            .find(|entry| entry.modifier_id.as_deref() == Some(object.id.as_str()));
        let hidden_online = item_override
            .and_then(|entry| toggle(entry.hidden_online_override.as_deref()))
            .or(data.hidden_online)
            == Some(true);
        if object.is_deleted == Some(true) || hidden_online || !object.is_at(self.location) {
            return None;
        }
        let is_default = item_override
            .and_then(|entry| {
                toggle(entry.on_by_default_override.as_deref()).or(entry.on_by_default)
            })
            .or(data.on_by_default);
        let local = LocationOverride::find(&data.location_overrides, self.location);
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
            is_default,
            max_quantity: None,
        })
    }
}

#[cfg(test)]
mod tests;
