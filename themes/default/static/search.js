/* Search for a forumgen site, in the browser, from the index the build writes to
   search/ (see forumgen/searchindex.py for its files and forumgen/search.py for the
   terms, which this file must split exactly alike). No request leaves the site, and no
   text from the index is ever parsed as HTML: results are built with DOM nodes. */
(function () {
  'use strict';

  var box = document.getElementById('search');
  if (!box) { return; }
  var CJK = '\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af';
  var CJK_RUN = new RegExp('([' + CJK + ']+)', 'u');
  var CJK_CHAR = new RegExp('^[' + CJK + ']$', 'u');
  var WORD = /[\p{L}\p{N}]+/gu;
  var TOKEN = new RegExp('[' + CJK + ']|(?:(?![' + CJK + '])[\\p{L}\\p{N}])+', 'gu');
  var ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
  var LONGEST_WORD = 40;
  var MOST_TOKENS = 12;      // of a query: longer ones are cut (each costs a shard)
  var PART_BUDGET = 110000;  // bytes of postings fetched beyond the shards, about
  var BYTES_PER_POSTING = 4;
  var TOPICS_PER_PAGE = 10;
  var POSTS_PER_TOPIC = 3;
  var TITLE_WEIGHT = 40;     // a title match outweighs any body match
  var DIGIT = {};
  for (var i = 0; i < ALPHABET.length; i++) { DIGIT[ALPHABET[i]] = i; }

  // Terms, as forumgen/search.py makes them ------------------------------------------

  function stem(word) {
    if (word.length <= 3 || word[word.length - 1] !== 's' || !/^[\x00-\x7f]*$/.test(word)) {
      return word;
    }
    if (word.endsWith('ies') && word.length > 4) { return word.slice(0, -3) + 'y'; }
    if (word.endsWith('sses') || word.endsWith('xes')) { return word.slice(0, -2); }
    if (word.endsWith('ss') || word.endsWith('us') || word.endsWith('is')) { return word; }
    return word.slice(0, -1);
  }

  function segments(text) {
    var parts = text.normalize('NFKC').toLowerCase().split(CJK_RUN);
    var found = [];
    for (var n = 0; n < parts.length; n++) {
      if (n % 2) {
        found.push({ cjk: true, tokens: Array.from(parts[n]) });
      } else {
        var words = (parts[n].match(WORD) || []).filter(function (w) {
          return w.length <= LONGEST_WORD;
        }).map(stem);
        if (words.length) { found.push({ cjk: false, tokens: words }); }
      }
    }
    return found;
  }

  function tokens(text) {
    var all = [];
    segments(text).forEach(function (s) { all = all.concat(s.tokens); });
    return all;
  }

  /* The query's terms: words and adjacent word pairs; for CJK, adjacent characters
     (a lone character stands for itself). */
  function queryTerms(query) {
    var terms = [];
    var left = MOST_TOKENS;
    segments(query).forEach(function (s) {
      var t = s.tokens.slice(0, Math.max(0, left));
      left -= t.length;
      if (s.cjk) {
        if (t.length === 1) { terms.push(t[0]); }
        for (var k = 0; k + 1 < t.length; k++) { terms.push(t[k] + t[k + 1]); }
      } else {
        for (var j = 0; j < t.length; j++) {
          terms.push(t[j]);
          if (j + 1 < t.length) { terms.push(t[j] + ' ' + t[j + 1]); }
        }
      }
    });
    return terms.filter(function (t, n) { return terms.indexOf(t) === n; });
  }

  function fnv1a(text) {
    var bytes = new TextEncoder().encode(text);
    var h = 0x811c9dc5;
    for (var k = 0; k < bytes.length; k++) {
      h ^= bytes[k];
      h = Math.imul(h, 0x01000193) >>> 0;
    }
    return h;
  }

  // The index ---------------------------------------------------------------------------

  var base = box.getAttribute('data-index');
  var siteRoot = box.getAttribute('data-root');
  var fetched = {};

  function load(path) {
    if (!fetched[path]) {
      fetched[path] = fetch(base + path).then(function (answer) {
        if (!answer.ok) { throw new Error(path + ': ' + answer.status); }
        return answer.json();
      });
    }
    return fetched[path];
  }

  /* Postings as [topic id, post index, weight]: varint(topic id delta), varint(count),
     then varint(index delta), varint(weight) per post. */
  function decode(encoded, into) {
    var pos = 0;
    function next() {
      var value = 0, shift = 0, digit;
      do {
        digit = DIGIT[encoded[pos++]];
        value += (digit & 31) * Math.pow(2, shift);
        shift += 5;
      } while (digit >= 32);
      return value;
    }
    var tid = 0;
    while (pos < encoded.length) {
      tid += next();
      var count = next(), index = 0;
      for (var k = 0; k < count; k++) {
        index += next();
        into.push([tid, index, next()]);
      }
    }
    return into;
  }

  function shardOf(term, bits) {
    return bits === 0 ? 0 : fnv1a(term.replace(/^\^/, '')) >>> (32 - bits);
  }

  function cost(entry) {
    return !entry || entry.length === 2 ? 0 : entry[0] * BYTES_PER_POSTING;
  }

  function fetchParts(list, count, pending) {
    var entry = list.entry;
    var parts = !entry || entry.length === 2 ? 0 : entry[2];
    count = Math.min(count, parts);
    list.complete = count === parts;
    for (var k = 0; k < count; k++) {
      pending.push(load('p/' + entry[1] + '-' + k + '.json').then(function (text) {
        decode(text, list.postings);
      }));
    }
  }

  /* The postings of each term in posts and in titles ([body, title] for each query
     term): rarest terms first, whole, as long as the budget lasts; then the titles of
     the others. A term whose postings were all fetched decides which posts match. */
  function postings(meta, terms) {
    var wanted = [];
    terms.forEach(function (t) { wanted.push(t, '^' + t); });
    var shards = wanted.map(function (t) {
      return load('i/' + shardOf(t, meta.shardBits).toString(16) + '.json');
    });
    return Promise.all(shards).then(function (loaded) {
      var lists = wanted.map(function (t, n) {
        var entry = loaded[n][t];
        var list = { term: t, df: entry ? entry[0] : 0, entry: entry, postings: [],
                     complete: true };
        if (entry && entry.length === 2) { decode(entry[1], list.postings); }
        return list;
      });
      var pending = [];
      var spent = 0;
      var left = [];
      terms.map(function (t, n) { return [lists[2 * n], lists[2 * n + 1]]; })
        .sort(function (a, b) {
          return cost(a[0].entry) + cost(a[1].entry) - cost(b[0].entry) - cost(b[1].entry);
        }).forEach(function (pair) {
          var price = cost(pair[0].entry) + cost(pair[1].entry);
          if (spent + price <= PART_BUDGET) {
            spent += price;
            pair.forEach(function (list) { fetchParts(list, Infinity, pending); });
          } else {
            left.push(pair);
          }
        });
      left.forEach(function (pair) {
        var price = cost(pair[1].entry);
        fetchParts(pair[1], spent + price <= PART_BUDGET ? Infinity : 0, pending);
        spent += pair[1].complete ? price : 0;
        fetchParts(pair[0], 0, pending);
      });
      var body = left.length && left.length === terms.length && left[0][0];
      if (body && body.entry && body.entry.length === 3) {
        // No term could be fetched whole: some of the rarest one's posts, at least.
        var part = cost(body.entry) / body.entry[2];
        fetchParts(body, Math.max(1, Math.floor((PART_BUDGET - spent) / part)), pending);
      }
      return Promise.all(pending).then(function () { return lists; });
    });
  }

  /* Posts ranked: most query terms found (counting only terms whose postings in posts
     and titles were all fetched), then BM25 with title matches weighing most. */
  function rank(meta, terms, lists) {
    var docs = new Map();
    lists.forEach(function (list, n) {
      var title = list.term[0] === '^';
      var whole = lists[n - (n % 2)].complete && lists[n - (n % 2) + 1].complete;
      var idf = Math.log(1 + (meta.docs - list.df + 0.5) / (list.df + 0.5));
      list.postings.forEach(function (p) {
        var key = p[0] * 1048576 + p[1];
        var doc = docs.get(key);
        if (!doc) {
          doc = { tid: p[0], index: p[1], score: 0, found: new Set() };
          docs.set(key, doc);
        }
        doc.score += title ? idf * TITLE_WEIGHT : idf * p[2] / 10;
        if (whole) { doc.found.add(n >> 1); }
      });
    });
    return Array.from(docs.values()).sort(function (a, b) {
      return b.found.size - a.found.size || b.score - a.score || a.tid - b.tid ||
        a.index - b.index;
    });
  }

  function byTopic(ranked) {
    var topics = new Map();
    ranked.forEach(function (doc) {
      var topic = topics.get(doc.tid);
      if (!topic) { topic = { tid: doc.tid, docs: [] }; topics.set(doc.tid, topic); }
      if (topic.docs.length < POSTS_PER_TOPIC) { topic.docs.push(doc); }
    });
    return Array.from(topics.values());
  }

  function withText(meta, topics) {
    return Promise.all(topics.map(function (topic) {
      return Promise.all(topic.docs.map(function (doc) {
        var block = Math.floor(doc.index / meta.block);
        return load('d/' + doc.tid.toString(16) + '-' + block + '.json').then(function (file) {
          var post = file.p[doc.index - block * meta.block];
          topic.slug = file.s;
          topic.title = file.t;
          doc.id = post[0];
          doc.page = post[1];
          doc.text = post[2];
        });
      }));
    })).then(function () { return topics; });
  }

  function contains(haystack, needle) {
    outer: for (var k = 0; k + needle.length <= haystack.length; k++) {
      for (var j = 0; j < needle.length; j++) {
        if (haystack[k + j] !== needle[j]) { continue outer; }
      }
      return true;
    }
    return false;
  }

  /* Posts holding the query as written, word for word, move up (the sort is stable). */
  function phraseFirst(query, topics) {
    var phrase = tokens(query).slice(0, MOST_TOKENS);
    topics.forEach(function (topic) {
      topic.best = 0;
      topic.docs.forEach(function (doc) {
        var text = (doc.index === 0 ? topic.title + ' ' : '') + doc.text;
        doc.phrase = phrase.length > 1 && contains(tokens(text), phrase) ? 1 : 0;
        topic.best = Math.max(topic.best, doc.phrase);
      });
      topic.docs.sort(function (a, b) { return b.phrase - a.phrase; });
    });
    return topics.map(function (t, n) { return [t, n]; }).sort(function (a, b) {
      return b[0].best - a[0].best || a[1] - b[1];
    }).map(function (pair) { return pair[0]; });
  }

  // Showing results -----------------------------------------------------------------------

  function permalink(slug, page, id) {
    return siteRoot + 't/' + encodeURIComponent(slug) + '/' +
      (page > 1 ? 'page/' + page + '/' : '') + '#p-' + encodeURIComponent(id);
  }

  /* Text around the first match, with the query's words (and CJK characters that
     belong to a matched pair) in <mark>: text nodes only, never markup from the index. */
  function snippet(text, terms) {
    var wanted = new Set(terms);
    var found = [];
    var match;
    TOKEN.lastIndex = 0;
    while ((match = TOKEN.exec(text)) !== null) {
      var token = match[0];
      var cjk = CJK_CHAR.test(token);
      found.push({ start: match.index, end: match.index + token.length, cjk: cjk,
                   term: cjk ? token : stem(token.normalize('NFKC').toLowerCase()) });
    }
    var marked = found.map(function (t, n) {
      if (!t.cjk) { return wanted.has(t.term); }
      var prev = found[n - 1], next = found[n + 1];
      return wanted.has(t.term) ||
        (prev && prev.cjk && prev.end === t.start && wanted.has(prev.term + t.term)) ||
        (next && next.cjk && t.end === next.start && wanted.has(t.term + next.term));
    });
    var first = marked.indexOf(true);
    var start = first < 0 ? 0 : Math.max(0, found[first].start - 70);
    var end = Math.min(text.length, start + 240);
    var fragment = document.createDocumentFragment();
    var at = start;
    if (start > 0) { fragment.appendChild(document.createTextNode('…')); }
    found.forEach(function (t, n) {
      if (!marked[n] || t.start < start || t.end > end) { return; }
      fragment.appendChild(document.createTextNode(text.slice(at, t.start)));
      var mark = document.createElement('mark');
      mark.textContent = text.slice(t.start, t.end);
      fragment.appendChild(mark);
      at = t.end;
    });
    fragment.appendChild(document.createTextNode(text.slice(at, end) +
                                                 (end < text.length ? '…' : '')));
    return fragment;
  }

  function element(name, className, text) {
    var node = document.createElement(name);
    if (className) { node.className = className; }
    if (text !== undefined) { node.textContent = text; }
    return node;
  }

  function show(list, topics, terms) {
    topics.forEach(function (topic) {
      var item = element('li');
      var heading = element('h2');
      var link = element('a', '', topic.title);
      var top = topic.docs[0];
      link.href = permalink(topic.slug, top.page, top.id);
      heading.appendChild(link);
      item.appendChild(heading);
      var posts = element('ul');
      topic.docs.forEach(function (doc) {
        var post = element('li');
        var meta = element('p', 'search-meta');
        var number = element('a', '', '#' + (doc.index + 1));
        number.href = permalink(topic.slug, doc.page, doc.id);
        meta.appendChild(number);
        post.appendChild(meta);
        var text = element('p', 'search-snippet');
        text.appendChild(snippet(doc.text, terms));
        post.appendChild(text);
        posts.appendChild(post);
      });
      item.appendChild(posts);
      list.appendChild(item);
    });
  }

  function say(key, query) {
    box.querySelector('.search-status').textContent =
      box.getAttribute('data-' + key).replace('{q}', query || '');
  }

  function run(query) {
    var terms = queryTerms(query);
    if (!terms.length) { say('prompt'); return Promise.resolve(); }
    say('loading');
    var list = box.querySelector('.search-results');
    return load('index.json').then(function (meta) {
      return postings(meta, terms).then(function (lists) {
        var topics = byTopic(rank(meta, terms, lists));
        if (!topics.length) { say('none', query); return; }
        var shown = 0;
        var more = element('button', 'search-more', box.getAttribute('data-more'));
        more.type = 'button';
        function page() {
          var next = topics.slice(shown, shown + TOPICS_PER_PAGE);
          shown += next.length;
          more.disabled = true;
          return withText(meta, next).then(function (loaded) {
            show(list, phraseFirst(query, loaded), terms);
            more.disabled = false;
            more.hidden = shown >= topics.length;
          });
        }
        more.addEventListener('click', page);
        box.appendChild(more);
        return page().then(function () { say('results', query); });
      });
    }).catch(function () { say('failed'); });
  }

  box.hidden = false;
  var query = new URLSearchParams(window.location.search).get('q') || '';
  var input = document.getElementById('site-search-q');
  if (input) { input.value = query; }
  run(query.trim()).then(function () { box.setAttribute('data-done', 'true'); });
})();
