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
  var MOST_COMPLETIONS = 5;  // words completing the last one, the commonest (a shard each)
  var TYPING_PAUSE = 200;    // ms without a keystroke before the search page's field searches
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

  var QUOTED = /["\u201c\u201d]([^"\u201c\u201d]*)["\u201c\u201d]/g;

  /* The phrases the query quotes, as their tokens, and the terms a post must hold to
     hold them: their adjacent pairs of words and of CJK characters (a lone word or
     character stands for itself). Only a closed quote makes a phrase. */
  function phrases(query) {
    var found = [];
    var needed = new Set();
    var match;
    QUOTED.lastIndex = 0;
    while ((match = QUOTED.exec(query)) !== null) {
      var phrase = tokens(match[1]);
      if (phrase.length) { found.push(phrase); }
      segments(match[1]).forEach(function (part) {
        var t = part.tokens;
        var glue = part.cjk ? '' : ' ';
        if (t.length === 1) { needed.add(t[0]); }
        for (var k = 0; k + 1 < t.length; k++) { needed.add(t[k] + glue + t[k + 1]); }
      });
    }
    return { tokens: found, terms: needed };
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

  /* The last word of the query when it may be unfinished (nothing follows it): not CJK,
     and at least as long as the prefixes the index lists words by. */
  function unfinished(query, meta) {
    var text = query.normalize('NFKC').toLowerCase();
    var last = text.match(/[\p{L}\p{N}]+$/u);
    if (!last) { return null; }
    var runs = last[0].split(CJK_RUN);
    var word = runs[runs.length - 1];
    var length = Array.from(word).length;
    return length >= meta.prefix && length <= LONGEST_WORD ? word : null;
  }

  function hex(text) {
    return Array.from(new TextEncoder().encode(text)).map(function (b) {
      return (b < 16 ? '0' : '') + b.toString(16);
    }).join('');
  }

  /* The query's terms by slot: each term is a slot of its own, but for the last word,
     whose slot also holds the commonest words it begins (from the index's list of the
     words of its first letters): any of them matches it. */
  function slots(meta, query) {
    var terms = queryTerms(query);
    var found = terms.map(function (t) { return [t]; });
    var word = unfinished(query, meta);
    var at = word === null ? -1 : terms.indexOf(stem(word));
    if (at < 0) { return Promise.resolve(found); }
    var key = Array.from(word).slice(0, meta.prefix).join('');
    return load('x/' + hex(key) + '.json').catch(function () { return {}; }).then(function (words) {
      Object.keys(words).map(function (rest) { return [key + rest, words[rest]]; })
        .filter(function (w) { return w[0].startsWith(word) && w[0] !== terms[at]; })
        .sort(function (a, b) { return b[1] - a[1] || (a[0] < b[0] ? -1 : 1); })
        .slice(0, MOST_COMPLETIONS)
        .forEach(function (w) { found[at].push(w[0]); });
      return found;
    });
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

  /* The postings of each term in posts and in titles ([body, title] for each term of
     each slot): rarest terms first, whole, as long as the budget lasts; then the titles
     of the others. A term whose postings were all fetched decides which posts match.
     The terms of quoted phrases come first: they decide which posts may match at all. */
  function postings(meta, slotted, needed) {
    var wanted = [];
    slotted.forEach(function (terms, slot) {
      terms.forEach(function (t) { wanted.push([t, slot], ['^' + t, slot]); });
    });
    var shards = wanted.map(function (w) {
      return load('i/' + shardOf(w[0], meta.shardBits).toString(16) + '.json');
    });
    return Promise.all(shards).then(function (loaded) {
      var lists = wanted.map(function (w, n) {
        var entry = loaded[n][w[0]];
        var list = { term: w[0], slot: w[1], df: entry ? entry[0] : 0, entry: entry,
                     postings: [], complete: true };
        if (entry && entry.length === 2) { decode(entry[1], list.postings); }
        return list;
      });
      var pending = [];
      var spent = 0;
      var left = [];
      var pairs = [];
      for (var n = 0; n < lists.length; n += 2) { pairs.push([lists[n], lists[n + 1]]); }
      pairs.slice().sort(function (a, b) {
          return needed.has(b[0].term) - needed.has(a[0].term) ||
            cost(a[0].entry) + cost(a[1].entry) - cost(b[0].entry) - cost(b[1].entry);
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
      var body = left.length && left.length === pairs.length && left[0][0];
      if (body && body.entry && body.entry.length === 3) {
        // No term could be fetched whole: some of the rarest one's posts, at least.
        var part = cost(body.entry) / body.entry[2];
        fetchParts(body, Math.max(1, Math.floor((PART_BUDGET - spent) / part)), pending);
      }
      return Promise.all(pending).then(function () { return lists; });
    });
  }

  /* Posts ranked: most query terms found (counting only terms whose postings in posts
     and titles were all fetched), then BM25 with title matches weighing most. With
     quoted phrases, only the posts holding every term of them. */
  function rank(meta, lists, needed) {
    var docs = new Map();
    lists.forEach(function (list, n) {
      var title = list.term[0] === '^';
      var whole = lists[n - (n % 2)].complete && lists[n - (n % 2) + 1].complete;
      var idf = Math.log(1 + (meta.docs - list.df + 0.5) / (list.df + 0.5));
      list.postings.forEach(function (p) {
        var key = p[0] * 1048576 + p[1];
        var doc = docs.get(key);
        if (!doc) {
          doc = { tid: p[0], index: p[1], score: 0, found: new Set(), has: new Set() };
          docs.set(key, doc);
        }
        doc.score += title ? idf * TITLE_WEIGHT : idf * p[2] / 10;
        if (whole) { doc.found.add(list.slot); }
        doc.has.add(title ? list.term.slice(1) : list.term);
      });
    });
    return Array.from(docs.values()).filter(function (doc) {
      return Array.from(needed).every(function (t) { return doc.has.has(t); });
    }).sort(function (a, b) {
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
          doc.author = post[3];
          doc.date = post[4];
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

  /* The posts that hold every quoted phrase, word for word: the index told which posts
     hold each pair of its adjacent words; the text tells whether they follow each other
     in order, when it is the whole post (longer posts are shown cut, and kept). */
  function holding(meta, quoted, topics) {
    if (!quoted.length) { return topics; }
    topics.forEach(function (topic) {
      topic.docs = topic.docs.filter(function (doc) {
        if (Array.from(doc.text).length >= meta.text) { return true; }
        var text = tokens((doc.index === 0 ? topic.title + ' ' : '') + doc.text);
        return quoted.every(function (phrase) { return contains(text, phrase); });
      });
    });
    return topics.filter(function (topic) { return topic.docs.length; });
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
        meta.appendChild(document.createTextNode(' · '));
        meta.appendChild(element('span', 'search-author', doc.author));
        meta.appendChild(document.createTextNode(' · '));
        meta.appendChild(element('span', 'search-date', doc.date));
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

  /* The status line; `count` picks the results' plural form, as the site's strings do. */
  function say(key, query, count) {
    var name = key === 'results' ? key + (count === 1 ? '-one' : '-other') : key;
    box.querySelector('.search-status').textContent = box.getAttribute('data-' + name)
      .replace('{q}', query || '').replace('{n}', String(count));
  }

  var latest = 0;  // the run whose results are shown: earlier ones stop when they see it

  function run(query) {
    var mine = ++latest;
    var list = box.querySelector('.search-results');
    var old = box.querySelector('.search-more');
    list.textContent = '';
    if (old) { old.remove(); }
    box.removeAttribute('data-done');
    function tell(key, count) { if (mine === latest) { say(key, query, count); } }
    if (!queryTerms(query).length) { say('prompt'); return Promise.resolve(); }
    say('loading');
    return load('index.json').then(function (meta) {
      return slots(meta, query).then(function (slotted) {
        var marked = [].concat.apply([], slotted);
        var quoted = phrases(query);
        var needed = new Set(Array.from(quoted.terms).filter(function (t) {
          return marked.indexOf(t) >= 0;
        }));
        return postings(meta, slotted, needed).then(function (lists) {
          if (mine !== latest) { return; }
          var topics = byTopic(rank(meta, lists, needed));
          var shown = 0;
          var more = element('button', 'search-more', box.getAttribute('data-more'));
          more.type = 'button';
          /* The next page of topics; one whose posts all lack a quoted phrase is left out
             (and the page goes on to the next ones). */
          function page() {
            var next = topics.slice(shown, shown + TOPICS_PER_PAGE);
            more.disabled = true;
            return withText(meta, next).then(function (loaded) {
              if (mine !== latest) { return; }
              var kept = holding(meta, quoted.tokens, loaded);
              topics.splice.apply(topics, [shown, next.length].concat(kept));
              shown += kept.length;
              show(list, phraseFirst(query, kept), marked);
              more.disabled = false;
              more.hidden = shown >= topics.length;
              if (!kept.length && !more.hidden) { return page(); }
            });
          }
          more.addEventListener('click', function () {
            page().then(function () { tell('results', topics.length); });
          });
          box.appendChild(more);
          return page().then(function () {
            tell(topics.length ? 'results' : 'none', topics.length);
          });
        });
      });
    }).catch(function () { tell('failed'); });
  }

  /* Search `query`, then mark the box done with it (the tests wait for that). */
  function search(query) {
    var mine = latest + 1;
    return run(query.trim()).then(function () {
      if (mine === latest) {
        box.setAttribute('data-query', query.trim());
        box.setAttribute('data-done', 'true');
      }
    });
  }

  box.hidden = false;
  var query = new URLSearchParams(window.location.search).get('q') || '';
  var fields = [document.getElementById('site-search-q'), document.getElementById('search-q')];
  fields.forEach(function (field) { if (field) { field.value = query; } });
  var field = fields[1];
  var form = box.querySelector('.search-form');
  var typing = 0;

  /* The search page's field searches as it is typed into, and keeps the address (and
     the header's field) in step, so that reloading or sharing the page gives the same. */
  function again() {
    clearTimeout(typing);
    var text = field.value;
    if (fields[0]) { fields[0].value = text; }
    var address = new URL(window.location.href);
    address.searchParams.set('q', text);
    window.history.replaceState(null, '', address.href);
    search(text);
  }
  if (field && form) {
    field.addEventListener('input', function () {
      clearTimeout(typing);
      typing = setTimeout(again, TYPING_PAUSE);
    });
    form.addEventListener('submit', function (event) {
      event.preventDefault();
      again();
    });
  }
  search(query);
})();
