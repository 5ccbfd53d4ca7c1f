//! What an incremental read of Square's catalog (`begin_time`) changes in
//! the kept [`Catalog`]: changed objects replace the kept ones of their id,
//! new ones are added, deleted ones (`is_deleted: true`, which that filter
//! returns whatever `include_deleted_objects` says) are removed, nested ones
//! too (a variation inside its item, a modifier inside its list). Pure: no
//! I/O; it reports whether anything really changed, so an answer that only
//! repeats what is kept leaves the catalog's digest as it was.

use super::wire::{Catalog, CatalogObject};

impl Catalog {
    /// Applies the objects of an incremental answer; whether the catalog changed.
    pub(super) fn apply(&mut self, changed: Vec<CatalogObject>) -> bool {
        let mut any = false;
        for object in changed {
            any |= if object.is_deleted == Some(true) {
                self.remove(&object.id)
            } else {
                self.upsert(object)
            };
        }
        any
    }

    /// Removes the object `id` wherever it is kept, nested ones included.
    fn remove(&mut self, id: &str) -> bool {
        let before = self.len();
        for objects in [
            &mut self.items,
            &mut self.variations,
            &mut self.categories,
            &mut self.taxes,
        ] {
            objects.retain(|object| object.id != id);
        }
        for map in [
            &mut self.modifier_lists,
            &mut self.images,
            &mut self.periods,
        ] {
            map.remove(id);
        }
        for item in self.items.iter_mut() {
            if let Some(data) = item.item_data.as_mut() {
                data.variations.retain(|variation| variation.id != id);
            }
        }
        for list in self.modifier_lists.values_mut() {
            if let Some(data) = list.modifier_list_data.as_mut() {
                data.modifiers.retain(|modifier| modifier.id != id);
            }
        }
        before != self.len()
    }

    /// Every kept object, nested ones included: what `remove` counts.
    fn len(&self) -> usize {
        let nested_variations: usize = self
            .items
            .iter()
            .filter_map(|item| item.item_data.as_ref())
            .map(|data| data.variations.len())
            .sum();
        let nested_modifiers: usize = self
            .modifier_lists
            .values()
            .filter_map(|list| list.modifier_list_data.as_ref())
            .map(|data| data.modifiers.len())
            .sum();
        self.items.len()
            + self.variations.len()
            + self.categories.len()
            + self.taxes.len()
            + self.modifier_lists.len()
            + self.images.len()
            + self.periods.len()
            + nested_variations
            + nested_modifiers
    }

    /// Puts a changed object where a full read would have put it.
    fn upsert(&mut self, object: CatalogObject) -> bool {
        match object.kind.as_str() {
            "ITEM" => replace_or_push(&mut self.items, object),
            "CATEGORY" => replace_or_push(&mut self.categories, object),
            "TAX" => replace_or_push(&mut self.taxes, object),
            "ITEM_VARIATION" => self.upsert_variation(object),
            "MODIFIER" => self.upsert_modifier(object),
            "MODIFIER_LIST" => insert(&mut self.modifier_lists, object),
            "IMAGE" => insert(&mut self.images, object),
            "AVAILABILITY_PERIOD" => insert(&mut self.periods, object),
            _ => false,
        }
    }

    /// A variation nested in its item replaces the nested one; any other
    /// is kept top-level, where the mapping finds it by its `item_id`.
    fn upsert_variation(&mut self, object: CatalogObject) -> bool {
        let nested = self
            .items
            .iter_mut()
            .filter_map(|item| item.item_data.as_mut())
            .flat_map(|data| data.variations.iter_mut())
            .find(|variation| variation.id == object.id);
        match nested {
            Some(kept) => replace(kept, object),
            None => replace_or_push(&mut self.variations, object),
        }
    }

    /// A modifier lives only inside its list: it replaces the nested one, or
    /// joins its list; one whose list is not kept waits for that list.
    fn upsert_modifier(&mut self, object: CatalogObject) -> bool {
        let list_id = object
            .modifier_data
            .as_ref()
            .and_then(|data| data.modifier_list_id.clone());
        let lists = self
            .modifier_lists
            .values_mut()
            .filter_map(|list| list.modifier_list_data.as_mut());
        for data in lists {
            if let Some(kept) = data.modifiers.iter_mut().find(|kept| kept.id == object.id) {
                return replace(kept, object);
            }
        }
        let Some(data) = list_id
            .and_then(|id| self.modifier_lists.get_mut(&id))
            .and_then(|list| list.modifier_list_data.as_mut())
        else {
            return false;
        };
        data.modifiers.push(object);
        true
    }
}

fn replace(kept: &mut CatalogObject, object: CatalogObject) -> bool {
    if *kept == object {
        return false;
    }
    *kept = object;
    true
}

/// Replaces the object of the same id in place (so order stays a full read's), or appends it.
fn replace_or_push(objects: &mut Vec<CatalogObject>, object: CatalogObject) -> bool {
    match objects.iter_mut().find(|kept| kept.id == object.id) {
        Some(kept) => replace(kept, object),
        None => {
            objects.push(object);
            true
        }
    }
}

fn insert(
    objects: &mut std::collections::BTreeMap<String, CatalogObject>,
    object: CatalogObject,
) -> bool {
    match objects.get_mut(&object.id) {
        Some(kept) => replace(kept, object),
        None => {
            objects.insert(object.id.clone(), object);
            true
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::super::wire::SearchPage;
    use super::*;

    fn object(value: Value) -> CatalogObject {
        serde_json::from_value(value).expect("test objects fit")
    }

    fn catalog() -> Catalog {
        let mut catalog = Catalog::default();
        let page: SearchPage = serde_json::from_value(json!({"objects": [
            {"type": "CATEGORY", "id": "C1", "category_data": {"name": "Burgers"}},
            {"type": "ITEM", "id": "I1", "item_data": {"name": "Classic", "variations": [
                {"type": "ITEM_VARIATION", "id": "V1", "item_variation_data": {"item_id": "I1", "name": "Regular"}},
                {"type": "ITEM_VARIATION", "id": "V2", "item_variation_data": {"item_id": "I1", "name": "Double"}}
            ]}},
            {"type": "ITEM", "id": "I2", "item_data": {"name": "Fries"}},
            {"type": "MODIFIER_LIST", "id": "L1", "modifier_list_data": {"name": "Cheese", "modifiers": [
                {"type": "MODIFIER", "id": "M1", "modifier_data": {"name": "Cheddar", "modifier_list_id": "L1"}}
            ]}}
        ]}))
        .unwrap();
        catalog.add(page);
        catalog
    }

    fn variation_ids(catalog: &Catalog) -> Vec<&str> {
        catalog.items[0]
            .item_data
            .as_ref()
            .unwrap()
            .variations
            .iter()
            .map(|v| v.id.as_str())
            .collect()
    }

    fn modifier_names(catalog: &Catalog) -> Vec<String> {
        catalog.modifier_lists["L1"]
            .modifier_list_data
            .as_ref()
            .unwrap()
            .modifiers
            .iter()
            .map(|m| m.modifier_data.as_ref().unwrap().name.clone().unwrap())
            .collect()
    }

    /// An answer, whether it changes anything, and what to check afterwards.
    type Case = (Vec<CatalogObject>, bool, fn(&Catalog));

    #[test]
    fn what_changes_and_what_does_not() {
        let deleted =
            |kind: &str, id: &str| object(json!({"type": kind, "id": id, "is_deleted": true}));
        let renamed_item =
            object(json!({"type": "ITEM", "id": "I2", "item_data": {"name": "Curly fries"}}));
        let new_modifier = object(
            json!({"type": "MODIFIER", "id": "M2", "modifier_data": {"name": "Swiss", "modifier_list_id": "L1"}}),
        );
        let orphan_modifier = object(
            json!({"type": "MODIFIER", "id": "M9", "modifier_data": {"name": "?", "modifier_list_id": "L9"}}),
        );
        let changed_variation = object(
            json!({"type": "ITEM_VARIATION", "id": "V1", "item_variation_data": {"item_id": "I1", "name": "Single"}}),
        );
        let cases: Vec<Case> = vec![
            (vec![], false, |c| assert_eq!(c.items.len(), 2)),
            (vec![deleted("ITEM", "I2")], true, |c| {
                assert_eq!(c.items.len(), 1)
            }),
            (vec![deleted("ITEM", "GONE")], false, |c| {
                assert_eq!(c.items.len(), 2)
            }),
            (vec![deleted("ITEM_VARIATION", "V2")], true, |c| {
                assert_eq!(variation_ids(c), ["V1"])
            }),
            (vec![deleted("MODIFIER", "M1")], true, |c| {
                assert!(modifier_names(c).is_empty())
            }),
            (vec![deleted("CATEGORY", "C1")], true, |c| {
                assert!(c.categories.is_empty())
            }),
            (vec![renamed_item], true, |c| {
                assert_eq!(
                    c.items[1].item_data.as_ref().unwrap().name.as_deref(),
                    Some("Curly fries"),
                    "in place"
                );
            }),
            (vec![catalog().items[1].clone()], false, |_| {}),
            (vec![changed_variation], true, |c| {
                let first = &c.items[0].item_data.as_ref().unwrap().variations[0];
                assert_eq!(
                    first.item_variation_data.as_ref().unwrap().name.as_deref(),
                    Some("Single")
                );
                assert!(c.variations.is_empty(), "replaced where it was nested");
            }),
            (vec![new_modifier], true, |c| {
                assert_eq!(modifier_names(c), ["Cheddar", "Swiss"])
            }),
            (vec![orphan_modifier], false, |_| {}),
        ];
        for (index, (answer, changes, check)) in cases.into_iter().enumerate() {
            let mut kept = catalog();
            assert_eq!(kept.apply(answer), changes, "case {index}");
            check(&kept);
        }
    }
}
