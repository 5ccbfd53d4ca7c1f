//! An item's variants (sizes, each with its price, sold-out flag, photo and
//! facts) and its option groups, as the transform checks and converts them.

use std::collections::HashSet;

use super::facts::{nutrition, sold_out_until};
use crate::config::StoreSettings;
use crate::menu::{self, OptionChoice, OptionGroup, Variant};
use crate::pos::doc::{OptionGroupDoc, VariantDoc};

/// Fills `item`'s variants, price and sold-out flag from the POS variants.
///
/// The item shows the default variant's price (the first variant's when none
/// is default). A price override names a variant id, or the item id for its
/// default variant. A single variant is no choice: it folds into the item.
pub(super) fn apply_variants(
    item: &mut menu::Item,
    docs: &[VariantDoc],
    settings: &StoreSettings,
) -> Result<(), String> {
    let default_index = docs
        .iter()
        .position(|variant| variant.is_default == Some(true))
        .unwrap_or(0);
    let mut seen = HashSet::new();
    let mut variants = Vec::with_capacity(docs.len());
    for (index, doc) in docs.iter().enumerate() {
        if !seen.insert(doc.variant_id.as_str()) {
            return Err(format!("variant {} appears twice", doc.variant_id));
        }
        let is_default = index == default_index;
        let price = variant_price(doc, is_default, &item.id, settings);
        if price < 0 {
            return Err(format!(
                "variant {} has negative price {price}",
                doc.variant_id
            ));
        }
        let option_groups = doc
            .option_groups
            .iter()
            .map(transform_option_group)
            .collect::<Result<Vec<_>, _>>()?;
        check_unique_groups(&item.option_groups, &option_groups)?;
        let sold_out = doc.sold_out.unwrap_or(false);
        variants.push(Variant {
            id: doc.variant_id.clone(),
            name: doc.name.clone(),
            price,
            sold_out,
            sold_out_until: sold_out_until(sold_out, doc.sold_out_until.as_deref()),
            is_default,
            image: None,
            image_variants: Vec::new(),
            nutrition: nutrition(doc.nutrition.as_ref()),
            option_groups,
            image_id: doc.image_id.clone(),
        });
    }
    item.price = variants[default_index].price;
    if !item.sold_out && variants.iter().all(|variant| variant.sold_out) {
        item.sold_out = true;
        // Orderable again when the first variant is, if every one says when.
        item.sold_out_until = variants
            .iter()
            .map(|variant| variant.sold_out_until.clone())
            .collect::<Option<Vec<_>>>()
            .and_then(|untils| untils.into_iter().min());
    }
    if let [only] = variants.as_mut_slice() {
        item.option_groups.append(&mut only.option_groups);
        if item.nutrition.is_none() {
            item.nutrition = only.nutrition.take();
        }
        if item.image_id.is_none() {
            item.image_id = only.image_id.take();
        }
    } else {
        item.variants = variants;
    }
    Ok(())
}

/// A variant's price after the store's overrides: its own id first, then the
/// item id for the default variant.
fn variant_price(
    doc: &VariantDoc,
    is_default: bool,
    item_id: &str,
    settings: &StoreSettings,
) -> i64 {
    let item_override = is_default
        .then(|| settings.price_overrides.get(item_id))
        .flatten();
    settings
        .price_overrides
        .get(&doc.variant_id)
        .or(item_override)
        .copied()
        .unwrap_or(doc.price)
}

/// Refuses a group id that appears twice among the groups that apply together.
pub(super) fn check_unique_groups(
    item_groups: &[OptionGroup],
    variant_groups: &[OptionGroup],
) -> Result<(), String> {
    let mut group_ids = HashSet::new();
    match item_groups
        .iter()
        .chain(variant_groups)
        .find(|group| !group_ids.insert(group.id.as_str()))
    {
        Some(group) => Err(format!("option group {} appears twice", group.id)),
        None => Ok(()),
    }
}

pub(super) fn transform_option_group(group: &OptionGroupDoc) -> Result<OptionGroup, String> {
    let min_select = group.min_select.unwrap_or(0);
    if let Some(max_select) = group.max_select
        && max_select < min_select
    {
        return Err(format!(
            "option group {} asks for at least {min_select} but at most {max_select}",
            group.group_id
        ));
    }
    let mut seen = HashSet::new();
    let mut options = Vec::with_capacity(group.options.len());
    for option in &group.options {
        if !seen.insert(option.option_id.as_str()) {
            return Err(format!(
                "option group {} lists option {} twice",
                group.group_id, option.option_id
            ));
        }
        let allow_quantities = group.allow_quantities == Some(true);
        options.push(OptionChoice {
            id: option.option_id.clone(),
            name: option.name.clone(),
            price_delta: option.price,
            sold_out: option.sold_out.unwrap_or(false),
            is_default: option.is_default == Some(true),
            max_quantity: option
                .max_quantity
                .filter(|max| allow_quantities && *max > 0),
        });
    }
    if (options.len() as u64) < u64::from(min_select) {
        return Err(format!(
            "option group {} needs {min_select} choices but offers {}",
            group.group_id,
            options.len()
        ));
    }
    Ok(OptionGroup {
        id: group.group_id.clone(),
        name: group.name.clone(),
        min_select,
        max_select: group.max_select,
        allow_quantities: group.allow_quantities == Some(true),
        options,
    })
}
