//! What changed between two menus, for the publish summary line and `menusync diff`.
//!
//! Pure: compares two [`Menu`] values by item id.

use std::collections::BTreeMap;
use std::fmt;

use crate::menu::{Item, Menu};

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
    /// Items whose image changed or that gained an image.
    pub image_changes: Vec<String>,
    /// Items whose name, description, tags or category changed.
    pub other_changes: Vec<String>,
}

impl MenuDiff {
    pub fn between(old: &Menu, new: &Menu) -> MenuDiff {
        let index = |menu: &Menu| -> BTreeMap<String, (String, Item)> {
            menu.categories
                .iter()
                .flat_map(|category| {
                    category
                        .items
                        .iter()
                        .map(move |item| (item.id.clone(), (category.id.clone(), item.clone())))
                })
                .collect()
        };
        let (before, after) = (index(old), index(new));
        let mut diff = MenuDiff::default();
        for (id, (category, item)) in &after {
            let Some((old_category, old_item)) = before.get(id) else {
                diff.added.push(item.name.clone());
                continue;
            };
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
            if old_item.image != item.image {
                diff.image_changes.push(item.name.clone());
            }
            let other = old_item.name != item.name
                || old_item.name_en != item.name_en
                || old_item.description != item.description
                || old_item.tags != item.tags
                || old_category != category;
            if other {
                diff.other_changes.push(item.name.clone());
            }
        }
        diff.removed = before
            .iter()
            .filter(|(id, _)| !after.contains_key(*id))
            .map(|(_, (_, item))| item.name.clone())
            .collect();
        diff
    }

    pub fn is_empty(&self) -> bool {
        *self == MenuDiff::default()
    }
}

fn names(list: &[String]) -> String {
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
    use crate::menu::{Category, StoreInfo};

    fn item(id: &str, name: &str, price: i64, sold_out: bool) -> Item {
        Item {
            id: id.into(),
            name: name.into(),
            name_en: None,
            description: None,
            tags: Vec::new(),
            price,
            sold_out,
            image: Some(format!("/images/{id:0>16}.jpg")),
            variants: Vec::new(),
            option_groups: Vec::new(),
            image_id: None,
        }
    }

    fn menu(items: Vec<Item>) -> Menu {
        Menu {
            schema_version: 1,
            store: StoreInfo {
                id: "s".into(),
                name: "s".into(),
            },
            currency: "KRW".into(),
            categories: vec![Category {
                id: "C".into(),
                name: "c".into(),
                items,
            }],
        }
    }

    #[test]
    fn summarises_every_kind_of_change() {
        let old = menu(vec![
            item("1", "아메리카노", 4500, false),
            item("2", "카페라떼", 5000, false),
            item("3", "케이크", 6000, true),
            item("4", "쿠키", 2000, false),
        ]);
        let mut new_latte = item("2", "카페라떼", 5000, true);
        new_latte.image = Some("/images/ffffffffffffffff.jpg".into());
        let new = menu(vec![
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
        let old = menu(Vec::new());
        let new = menu(
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
