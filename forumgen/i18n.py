"""UI strings and date formats for each supported language.

Kept in code rather than gettext catalogs: two languages, a few dozen strings, and no
build step for translators to forget. Month names are spelled out here instead of taken
from the system locale, which differs between machines and would break byte-identical builds.
"""

from __future__ import annotations

from datetime import datetime

STRINGS: dict[str, dict[str, str]] = {
    "en": {
        "skip": "Skip to content",
        "home": "Home",
        "latest": "Latest topics",
        "categories": "Categories",
        "tag_heading": "Topics tagged “{tag}”",
        "posts_by": "Posts by {name}",
        "topics_started": "Topics started",
        "replies_written": "Replies",
        "pinned": "Pinned",
        "locked": "Locked",
        "locked_notice": "This topic is locked: it takes no new replies.",
        "draft": "Draft",
        "draft_notice": "This topic is a draft: it is not published, and takes replies once it is.",
        "no_topics": "No topics yet.",
        "page_n": "Page {n}",
        "page_of": "Page {n} of {total}",
        "pagination": "Pagination",
        "pagination_end": "Pagination, end of page",
        "go_to_page": "Go to page",
        "all_pages": "All pages of this topic",
        "pages_range": "Pages {first} to {last}",
        "last_post": "Last post",
        "topic_aside": "About this topic",
        "started": "Started",
        "last_reply": "Last reply",
        "previous": "Previous",
        "next": "Next",
        "permalink": "Permalink to this post",
        "in_reply_to": "in reply to",
        "hidden_post": "a hidden post",
        "replies_to_this": "replies:",
        "edited": "edited",
        "reply_heading": "Reply to this topic",
        "new_topic": "New topic",
        "new_topic_heading": "Start a new topic",
        "field_author": "Your name",
        # No longer asked for; kept for site themes copied from a forumgen whose forms
        # had an e-mail field, so that they still build.
        "field_email": "E-mail (optional, never published)",
        "field_title": "Title",
        "field_category": "Category",
        "choose_category": "Choose a category",
        "field_tags": "Tags (optional, comma-separated)",
        "field_body": "Message (Markdown)",
        "field_reply_to": "In reply to",
        "reply_to_topic": "the topic",
        "field_website": "Leave this field empty",
        "submit_reply": "Post reply",
        "submit_topic": "Create topic",
        "moderation_notice": "Posts may wait for a moderator before they appear.",
        "feed": "Atom feed",
        "breadcrumbs": "Breadcrumbs",
        "not_found": "Page not found",
        "not_found_text": "There is no page at this address. It may have moved.",
        "back_home": "Back to the latest topics",
        "main_nav": "Main",
        "moved": "This page has moved to",
        "quoted_text": "Quoted text",
        "signature": "Signature",
        "n_replies_one": "{n} reply",
        "n_replies_other": "{n} replies",
        "n_posts_one": "{n} post",
        "n_posts_other": "{n} posts",
        "started_by": "Started by {name}",
        "footer": "A static archive built with forumgen.",
        "topic_feed": "Feed of this topic",
        "category_feed": "Feed of this category",
        "site_feed": "Feed of the latest topics",
        "queue_notice": "Thank you: your post awaits moderation and will appear once approved.",
        "refused_title": "Your post was not accepted",
        "go_back": "Use your browser's Back button to return to the form: what you wrote is "
        "still there.",
        "published_soon_title": "Thank you",
        "published_soon": "Your post is saved and will appear on the page shortly.",
        "see_post": "Go to your post",
        "search": "Search",
        "search_label": "Search the forum",
        "search_needs_js": "Search runs in your browser and needs JavaScript, which is off. "
        "Browse the categories instead.",
        "search_browse": "Categories",
        "search_prompt": "Type words to find in titles and posts.",
        "search_loading": "Searching…",
        "search_results_one": "{n} result for “{q}”",
        "search_results_other": "{n} results for “{q}”",
        "search_none": "Nothing found for “{q}”.",
        "search_more": "More results",
        "search_failed": "The search index could not be loaded.",
        "archive": "Archive",
        "archive_of": "Archive of {name}",
        "archive_of_tag": "Archive of topics tagged “{tag}”",
        "archive_lead": "Every topic by the month it was started in.",
        "started_in": "Topics started in {month}",
        "older_topics": "Older topics are in the archive, by month",
        "n_topics_one": "{n} topic",
        "n_topics_other": "{n} topics",
        "older_posts": "Older posts are in the archive, by month",
        "author_archive": "Archive of posts by {name}",
        "author_archive_lead": "Every post by the month it was written in.",
        "written_in": "Posts by {name} in {month}",
        "opening_post": "Opening post",
        "tags": "Tags",
        "tags_lead": "Every tag, the most used first, with how many topics carry it.",
        "no_tags": "No tags yet.",
        "tag_feed": "Feed of this tag",
        "authors": "Authors",
        "authors_lead": "Everyone who wrote here, by name, with the topics they started "
        "and the posts they wrote.",
        "n_started_one": "{n} topic started",
        "n_started_other": "{n} topics started",
        "no_authors": "No posts yet.",
        "author_feed": "Feed of their posts",
        "categories_lead": "Every category, with how many topics it holds.",
        "no_categories": "No categories yet.",
    },
    "zh-CN": {
        "skip": "跳到正文",
        "home": "首页",
        "latest": "最新话题",
        "categories": "分类",
        "tag_heading": "标签为“{tag}”的话题",
        "posts_by": "{name} 的帖子",
        "topics_started": "发起的话题",
        "replies_written": "回复",
        "pinned": "置顶",
        "locked": "已锁定",
        "locked_notice": "此话题已锁定，不再接受新回复。",
        "draft": "草稿",
        "draft_notice": "此话题是草稿，尚未发布；发布后才能回复。",
        "no_topics": "还没有话题。",
        "page_n": "第 {n} 页",
        "page_of": "第 {n} 页，共 {total} 页",
        "pagination": "分页",
        "pagination_end": "分页（页末）",
        "go_to_page": "跳到某页",
        "all_pages": "此话题的所有页",
        "pages_range": "第 {first} 至 {last} 页",
        "last_post": "最后一帖",
        "topic_aside": "关于此话题",
        "started": "发起于",
        "last_reply": "最后回复",
        "previous": "上一页",
        "next": "下一页",
        "permalink": "此帖的永久链接",
        "in_reply_to": "回复",
        "hidden_post": "一条隐藏的帖子",
        "replies_to_this": "被回复：",
        "edited": "已编辑",
        "reply_heading": "回复此话题",
        "new_topic": "发表新话题",
        "new_topic_heading": "发表新话题",
        "field_author": "你的名字",
        "field_email": "电子邮件（可选，不会公开）",
        "field_title": "标题",
        "field_category": "分类",
        "choose_category": "请选择分类",
        "field_tags": "标签（可选，用逗号分隔）",
        "field_body": "内容（Markdown）",
        "field_reply_to": "回复对象",
        "reply_to_topic": "主题帖",
        "field_website": "请勿填写此项",
        "submit_reply": "发表回复",
        "submit_topic": "创建话题",
        "moderation_notice": "帖子可能需要管理员审核后才会显示。",
        "feed": "Atom 订阅",
        "breadcrumbs": "导航路径",
        "not_found": "页面不存在",
        "not_found_text": "这个地址没有页面，它可能已经移动。",
        "back_home": "返回最新话题",
        "main_nav": "主导航",
        "moved": "此页面已移动到",
        "quoted_text": "引用的内容",
        "signature": "签名",
        "n_replies_one": "{n} 条回复",
        "n_replies_other": "{n} 条回复",
        "n_posts_one": "{n} 个帖子",
        "n_posts_other": "{n} 个帖子",
        "started_by": "由 {name} 发起",
        "footer": "由 forumgen 生成的静态存档。",
        "topic_feed": "此话题的订阅",
        "category_feed": "此分类的订阅",
        "site_feed": "最新话题的订阅",
        "queue_notice": "谢谢！你的帖子正在等待审核，通过后就会显示。",
        "refused_title": "帖子未被接受",
        "go_back": "请用浏览器的“后退”按钮回到表单，你写的内容还在。",
        "published_soon_title": "谢谢",
        "published_soon": "你的帖子已保存，稍后就会出现在页面上。",
        "see_post": "查看你的帖子",
        "search": "搜索",
        "search_label": "搜索论坛",
        "search_needs_js": "搜索在浏览器中运行，需要 JavaScript，而它已被关闭。请按分类浏览。",
        "search_browse": "分类",
        "search_prompt": "输入要在标题和帖子中查找的词语。",
        "search_loading": "正在搜索…",
        "search_results_one": "找到 {n} 个与“{q}”相关的结果",
        "search_results_other": "找到 {n} 个与“{q}”相关的结果",
        "search_none": "没有找到与“{q}”相关的内容。",
        "search_more": "更多结果",
        "search_failed": "无法加载搜索索引。",
        "archive": "存档",
        "archive_of": "{name}的存档",
        "archive_of_tag": "标签为“{tag}”的话题存档",
        "archive_lead": "所有话题按发起的月份排列。",
        "started_in": "{month}发起的话题",
        "older_topics": "更早的话题按月份存档",
        "n_topics_one": "{n} 个话题",
        "n_topics_other": "{n} 个话题",
        "older_posts": "更早的帖子按月份存档",
        "author_archive": "{name} 的帖子存档",
        "author_archive_lead": "所有帖子按发表的月份排列。",
        "written_in": "{name} 在{month}的帖子",
        "opening_post": "首帖",
        "tags": "标签",
        "tags_lead": "所有标签，按使用次数排列，并注明各有多少话题。",
        "no_tags": "还没有标签。",
        "tag_feed": "此标签的订阅",
        "authors": "作者",
        "authors_lead": "所有发过帖子的人，按名字排列，并注明发起的话题和所发的帖子数。",
        "n_started_one": "发起 {n} 个话题",
        "n_started_other": "发起 {n} 个话题",
        "no_authors": "还没有帖子。",
        "author_feed": "此作者帖子的订阅",
        "categories_lead": "所有分类，并注明各有多少话题。",
        "no_categories": "还没有分类。",
    },
}

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_MONTH_NAMES = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)


class Translator:
    """`t(key, **values)` for one language; `count` picks the plural form."""

    def __init__(self, language: str) -> None:
        self.language = language
        self.strings = STRINGS[language]

    def __call__(self, key: str, count: int | None = None, **values: object) -> str:
        if count is not None:
            if count == 1:
                key = f"{key}_one"
            else:
                key = f"{key}_other"
            values["n"] = count
        return self.strings[key].format(**values)

    def date(self, when: datetime) -> str:
        """An absolute date and time as readers of the language write it."""
        if self.language == "zh-CN":
            return f"{when.year}年{when.month}月{when.day}日 {when:%H:%M}"
        return f"{when.day} {_MONTHS[when.month - 1]} {when.year}, {when:%H:%M}"

    def month(self, year: int, month: int) -> str:
        """A month of a year, as the archive names its pages."""
        if self.language == "zh-CN":
            return f"{year}年{month}月"
        return f"{_MONTH_NAMES[month - 1]} {year}"

    def short_date(self, when: datetime) -> str:
        if self.language == "zh-CN":
            return f"{when.year}年{when.month}月{when.day}日"
        return f"{when.day} {_MONTHS[when.month - 1]} {when.year}"
