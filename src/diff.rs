//! What changed between two menus, for the publish summary line and `menusync diff`.
//!
//! Pure: compares two [`Menu`] values by item id.

use std::collections::BTreeMap;
use std::fmt;

use crate::menu::{Item, Menu, Variant};

/// Two menus' items matched by id: each item once, however many categories list it.
#[derive(Debug, Default)]
pub struct Pairs<'m> {
    /// In `new` only, in `new`'s order.
    pub added: Vec<&'m Item>,
    /// In `old` only, in `old`'s order.
    pub removed: Vec<&'m Item>,
    /// In both, in `new`'s order.
    pub both: Vec<ItemPair<'m>>,
}

#[derive(Debug, Clone, Copy)]
pub struct ItemPair<'m> {
    pub old: &'m Item,
    pub new: &'m Item,
}

/// The items of `old` and `new` matched by id; the one way the summary, the
/// gates and the change pages compare menus.
pub fn pairs<'m>(old: &'m Menu, new: &'m Menu) -> Pairs<'m> {
    let once = |menu: &'m Menu| {
        let mut seen = std::collections::HashSet::new();
        menu.items()
            .filter(|item| seen.insert(item.id.as_str()))
            .collect::<Vec<&'m Item>>()
    };
    let (before, after) = (once(old), once(new));
    let by_id: BTreeMap<&str, &Item> = before
        .iter()
        .map(|item| (item.id.as_str(), *item))
        .collect();
    let now: std::collections::HashSet<&str> = after.iter().map(|item| item.id.as_str()).collect();
    let mut pairs = Pairs::default();
    for item in &after {
        match by_id.get(item.id.as_str()) {
            Some(was) => pairs.both.push(ItemPair {
                old: was,
                new: item,
            }),
            None => pairs.added.push(item),
        }
    }
    pairs.removed = before
        .into_iter()
        .filter(|item| !now.contains(item.id.as_str()))
        .collect();
    pairs
}

/// The variants of one item in both versions, matched by id.
pub fn variant_pairs<'m>(old: &'m Item, new: &'m Item) -> Vec<(&'m Variant, &'m Variant)> {
    new.variants
        .iter()
        .filter_map(|variant| {
            old.variants
                .iter()
                .find(|was| was.id == variant.id)
                .map(|was| (was, variant))
        })
        .collect()
}

/// How many names a summary line lists before it says "…".
const NAMES_SHOWN: usize = 3;

#[derive(Debug, Default, PartialEq, Eq)]
pub struct MenuDiff {
    pub added: Vec<String>,
    pub removed: Vec<String>,
    /// (name, old price, new price)
    pub price_changes: Vec<(String, i64, i64)>,
    pub now_sold_out: Vec<String>,
    pub back_in_stock: Vec<String>,
    /// Items whose variants or option groups changed.
    pub option_changes: Vec<String>,
    /// Items whose image (or a variant's) changed or that gained an image.
    pub image_changes: Vec<String>,
    /// Items and categories whose time windows moved (`category 런치`).
    pub window_changes: Vec<String>,
    /// Items whose allergens changed, with what: `아메리카노 (+milk, -soy)`.
    pub allergen_changes: Vec<String>,
    /// Items whose name, description, tags, categories, dietary facts,
    /// nutrition or sold-out-until changed.
    pub other_changes: Vec<String>,
}

impl MenuDiff {
    pub fn between(old: &Menu, new: &Menu) -> MenuDiff {
        // The categories each item is listed in.
        let placements = |menu: &Menu| -> BTreeMap<String, Vec<String>> {
            let mut listed: BTreeMap<String, Vec<String>> = BTreeMap::new();
            for category in &menu.categories {
                for item in &category.items {
                    listed
                        .entry(item.id.clone())
                        .or_default()
                        .push(category.id.clone());
                }
            }
            listed
        };
        let (old_places, new_places) = (placements(old), placements(new));
        let pairs = pairs(old, new);
        let mut diff = MenuDiff::default();
        let old_windows: BTreeMap<&str, _> = old
            .categories
            .iter()
            .map(|category| (category.id.as_str(), &category.availability))
            .collect();
        for category in &new.categories {
            if old_windows
                .get(category.id.as_str())
                .is_some_and(|windows| **windows != category.availability)
            {
                diff.window_changes
                    .push(format!("category {}", category.name));
            }
        }
        diff.added = pairs.added.iter().map(|item| item.name.clone()).collect();
        diff.removed = pairs.removed.iter().map(|item| item.name.clone()).collect();
        for ItemPair {
            old: old_item,
            new: item,
        } in pairs.both
        {
            if old_item.price != item.price {
                diff.price_changes
                    .push((item.name.clone(), old_item.price, item.price));
            }
            if !old_item.sold_out && item.sold_out {
                diff.now_sold_out.push(item.name.clone());
            }
            if old_item.sold_out && !item.sold_out {
                diff.back_in_stock.push(item.name.clone());
            }
            if old_item.variants != item.variants || old_item.option_groups != item.option_groups {
                diff.option_changes.push(item.name.clone());
            }
            let variant_images = |item: &Item| {
                item.variants
                    .iter()
                    .map(|v| v.image.clone())
                    .collect::<Vec<_>>()
            };
            if old_item.image != item.image || variant_images(old_item) != variant_images(item) {
                diff.image_changes.push(item.name.clone());
            }
            if old_item.availability != item.availability {
                diff.window_changes.push(item.name.clone());
            }
            if let Some(change) = allergen_change(old_item, item) {
                diff.allergen_changes
                    .push(format!("{} ({change})", item.name));
            }
            let other = old_item.name != item.name
                || old_item.name_en != item.name_en
                || old_item.description != item.description
                || old_item.tags != item.tags
                || old_item.dietary != item.dietary
                || old_item.nutrition != item.nutrition
                || old_item.sold_out_until != item.sold_out_until
                || old_places.get(&old_item.id) != new_places.get(&item.id);
            if other {
                diff.other_changes.push(item.name.clone());
            }
        }
        diff
    }

    pub fn is_empty(&self) -> bool {
        *self == MenuDiff::default()
    }
}

/// `+milk, -soy, +땅콩 조금`: what an item's allergens gained and lost.
fn allergen_change(old: &Item, new: &Item) -> Option<String> {
    let codes = |item: &Item| -> Vec<String> {
        item.allergens
            .iter()
            .map(|allergen| allergen.code())
            .chain(item.other_allergens.iter().cloned())
            .collect()
    };
    let (before, after) = (codes(old), codes(new));
    let mut changes: Vec<String> = after
        .iter()
        .filter(|code| !before.contains(code))
        .map(|code| format!("+{code}"))
        .collect();
    changes.extend(
        before
            .iter()
            .filter(|code| !after.contains(code))
            .map(|code| format!("-{code}")),
    );
    (!changes.is_empty()).then(|| changes.join(", "))
}

/// The first names of `list`, then `…` when there are more: how every
/// summary line (publish, gates) lists items.
pub fn names(list: &[String]) -> String {
    let mut shown: Vec<&str> = list.iter().take(NAMES_SHOWN).map(String::as_str).collect();
    if list.len() > NAMES_SHOWN {
        shown.push("…");
    }
    shown.join(", ")
}

/// One line: `2 added (딸기라떼, 말차라떼), 1 removed (…), 3 price changes (아메리카노 4500→4800 …)`.
impl fmt::Display for MenuDiff {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        let mut part = |list: &[String], what: &str| {
            if !list.is_empty() {
                parts.push(format!("{} {what} ({})", list.len(), names(list)));
            }
        };
        part(&self.added, "added");
        part(&self.removed, "removed");
        let prices: Vec<String> = self
            .price_changes
            .iter()
            .map(|(name, old, new)| format!("{name} {old}→{new}"))
            .collect();
        part(
            &prices,
            if prices.len() == 1 {
                "price change"
            } else {
                "price changes"
            },
        );
        part(&self.now_sold_out, "now sold out");
        part(&self.back_in_stock, "back in stock");
        part(&self.option_changes, "option changes");
        part(&self.image_changes, "images new");
        part(&self.window_changes, "windows moved");
        part(&self.allergen_changes, "allergen changes");
        part(&self.other_changes, "other changes");
        if parts.is_empty() {
            f.write_str("no item changes")
        } else {
            f.write_str(&parts.join(", "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::menu::{Allergen, Category, Day, Window};

    fn item(id: &str, name: &str, price: i64, sold_out: bool) -> Item {
        Item {
            id: id.into(),
            name: name.into(),
            name_en: None,
            description: None,
            tags: Vec::new(),
            price,
            sold_out,
            sold_out_until: None,
            image: Some(format!("/images/{id:0>16}.jpg")),
            image_variants: Vec::new(),
            availability: Vec::new(),
            allergens: Vec::new(),
            other_allergens: Vec::new(),
            dietary: Vec::new(),
            nutrition: None,
            variants: Vec::new(),
            option_groups: Vec::new(),
            image_id: None,
        }
    }

    fn lunch(start: &str) -> Window {
        Window {
            days: vec![Day::Mon, Day::Tue],
            start: start.into(),
            end: "14:00".into(),
        }
    }

    /// Issue 14: a moved window and an added allergen are named in the summary.
    #[test]
    fn names_moved_windows_and_allergen_changes() {
        let mut soup = item("1", "된장찌개", 8000, false);
        soup.availability = vec![lunch("11:00")];
        soup.allergens = vec![Allergen::Soy];
        let old = Menu::of_items(vec![soup.clone()]);
        soup.availability = vec![lunch("11:30")];
        soup.allergens = vec![Allergen::Milk];
        soup.other_allergens = vec!["조개 육수".into()];
        let mut new = Menu::of_items(vec![soup]);
        new.categories[0].availability = vec![lunch("10:00")];
        assert_eq!(
            MenuDiff::between(&old, &new).to_string(),
            "2 windows moved (category c, 된장찌개), \
             1 allergen changes (된장찌개 (+milk, +조개 육수, -soy))"
        );
    }

    /// An item listed in two categories is one item, not an add and a remove.
    #[test]
    fn an_item_in_two_categories_counts_once() {
        let old = Menu::of_items(vec![item("1", "김밥", 3000, false)]);
        let mut new = old.clone();
        new.categories.push(Category {
            id: "D".into(),
            name: "d".into(),
            availability: Vec::new(),
            items: vec![item("1", "김밥", 3500, false)],
        });
        new.categories[0].items[0].price = 3500;
        assert_eq!(
            MenuDiff::between(&old, &new).to_string(),
            "1 price change (김밥 3000→3500), 1 other changes (김밥)"
        );
    }

    #[test]
    fn summarises_every_kind_of_change() {
        let old = Menu::of_items(vec![
            item("1", "아메리카노", 4500, false),
            item("2", "카페라떼", 5000, false),
            item("3", "케이크", 6000, true),
            item("4", "쿠키", 2000, false),
        ]);
        let mut new_latte = item("2", "카페라떼", 5000, true);
        new_latte.image = Some("/images/ffffffffffffffff.jpg".into());
        let new = Menu::of_items(vec![
            item("1", "아메리카노", 4800, false),
            new_latte,
            item("3", "케이크", 6000, false),
            item("5", "딸기라떼", 5500, false),
        ]);
        let diff = MenuDiff::between(&old, &new);
        assert_eq!(
            diff.to_string(),
            "1 added (딸기라떼), 1 removed (쿠키), 1 price change (아메리카노 4500→4800), \
             1 now sold out (카페라떼), 1 back in stock (케이크), 1 images new (카페라떼)"
        );
        assert!(MenuDiff::between(&old, &old).is_empty());
        assert_eq!(MenuDiff::between(&old, &old).to_string(), "no item changes");
    }

    #[test]
    fn long_lists_are_cut_with_an_ellipsis() {
        let old = Menu::of_items(Vec::new());
        let new = Menu::of_items(
            (0..5)
                .map(|i| item(&i.to_string(), &format!("메뉴{i}"), 1, false))
                .collect(),
        );
        assert_eq!(
            MenuDiff::between(&old, &new).to_string(),
            "5 added (메뉴0, 메뉴1, 메뉴2, …)"
        );
    }
}
