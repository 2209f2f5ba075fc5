"""Paging through a feature type with COUNT/MAXFEATURES + STARTINDEX: complete, or an error.

When the server states a total (numberMatched in a page, else RESULTTYPE=hits), the harvest ends with
exactly that many features (or `max_features`): a short or empty page before it is asked again once, then
refused, since publishing 3,000 of 5,000 rows as a success is worse than failing. Without a total, the end
is an empty page or a page shorter than the declared or detected cap; `stats` says which. A server cap
that is not declared is detected from the first page; a feature id seen twice stops the harvest (paging
that is not stable would silently lose rows); the next page is asked for while the current one is read
(still one request at a time).
"""

from __future__ import annotations

import logging
from concurrent.futures import Future, ThreadPoolExecutor
from functools import partial
from typing import Any

import pandas as pd

from omv_pipelines.sources.base import GEOMETRY, SourceError
from omv_pipelines.sources.wfs.client import Client, Refused
from omv_pipelines.sources.wfs.config import WfsSource
from omv_pipelines.sources.wfs.geometry import Geometries
from omv_pipelines.sources.wfs.parsing import Page, parse_geojson, parse_gml, parse_hits

log = logging.getLogger(__name__)


def getfeature_params(version: str, typename: str, fmt: str | None, srs: str | None) -> dict[str, Any]:
    """GetFeature parameters, without the paging ones."""
    params = {"SERVICE": "WFS", "VERSION": version, "REQUEST": "GetFeature"}
    params["TYPENAMES" if version == "2.0.0" else "TYPENAME"] = typename
    if srs and version != "1.0.0":
        params["SRSNAME"] = srs
    if fmt:
        params["OUTPUTFORMAT"] = fmt
    return params


class Pager:
    """The pages of one feature type, in `sort_by` order when given and more than one page may come."""

    def __init__(
        self,
        client: Client,
        config: WfsSource,
        version: str,
        typename: str,
        fmt: str | None,
        srs: str | None,
        cap: int | None,
        sort_by: str | None,
        stats: dict[str, Any],
    ):
        self.client, self.config, self.version, self.typename = client, config, version, typename
        self.fmt, self.stats = fmt, stats
        self.page_size = min(config.page_size, cap) if cap else config.page_size
        self.cap_known = cap is not None
        self.params = getfeature_params(version, typename, fmt, srs)
        if sort_by and (config.max_features is None or config.max_features > self.page_size):
            self.params["SORTBY"] = f"{sort_by} ASC"
            stats["sorted_by"] = sort_by
        self.sort_by = sort_by
        self.default_crs = srs or "EPSG:4326"  # the CRS of the answer is named in it; this is the last resort
        self.seen: set[Any] = set()
        self.announced: int | None = None  # the total the server states (numberMatched, hits)
        self.announced_by = ""
        self.confirming = False  # the total was reached by a full page: an empty next page confirms it
        self.retried = 0
        self.first_try: dict[int, int] = {}  # features at the first try of the pages asked again, by start
        self.cap_source = "declared" if cap is not None and self.page_size == cap else None
        self.caps = {cap} if cap else set()  # declared or detected server caps
        self.ids_are_positions = False  # missing or repeated ids: rows are numbered instead
        # Requests go out from one thread, one at a time; but the next page is asked for as soon as this
        # one is known to be full (before its features are read), so the server prepares it meanwhile.
        self.ahead: dict[tuple[int, int], Future[bytes]] = {}
        self.pool: ThreadPoolExecutor | None = None

    def run(self) -> tuple[list[pd.DataFrame], list[Any], int]:
        """The pages as frames, the features' ids, and how many have a vertex outside Wallonia.

        When the server states a total, exactly that many features (or `max_features`) come back, or the
        harvest fails: a short or empty page before that end is asked again once, then refused. Without
        a total, the end is an empty page or a page shorter than the (declared or detected) cap."""
        frames: list[pd.DataFrame] = []
        all_ids: list[Any] = []
        outside = start = pages = 0
        end: str | None = None
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="wfs-pages") as self.pool:
            while end is None:
                want = self._wanted(start)
                if want <= 0:
                    end = "max_features reached"
                    break
                content = self._content(start, want, first=pages == 0)
                if content is None:  # the server refused our SORTBY: ask again, unsorted
                    continue
                pages += 1
                page, geo_text, outside_rows = self._read(content, start, want)
                self._take_total(page.number_matched, start)
                n = len(page.records)
                cap_detection = pages == 1 and not self.cap_known and 0 < n < want
                if self._premature(start, n, want) and not cap_detection:
                    page, geo_text, outside_rows = self._ask_again(start, want, n)
                    n = len(page.records)
                if n == 0:
                    self._check_complete(start, 0, want)
                    end = "announced total, then an empty page" if self.confirming else "empty page"
                    break
                self._identify(page, start, first=pages == 1)
                for (row, column), text in geo_text.items():
                    page.records[row][column] = text
                frames.append(pd.DataFrame.from_records(page.records))
                all_ids += page.ids
                outside += len(outside_rows)
                start += n
                if self.announced is not None and start > self.announced:
                    self._overshoot(start)
                if cap_detection and (self.announced is None or start < self.announced):
                    # A short first page with more to come is an undeclared server cap: page at that size.
                    self.page_size, self.cap_known = n, True
                    self.stats["page_cap"] = n
                    self.cap_source = "detected"
                    self.caps.add(n)
                elif n < want:
                    self._check_complete(start - n, n, want)
                    end = "announced total" if self.announced is not None else self._short_end()
                    break
                if pages == 1 and self.announced is None and self._wanted(start) > 0:
                    self._ask_hits()
                if self.announced is not None and start == self.announced:
                    self.confirming = True  # a full page ended on the total: the next one must be empty
        if self.announced is not None and end != "max_features reached":
            self._check_complete(start, 0, 0)
        if pages > 1 and "page_cap" in self.stats and start == self.stats["page_cap"]:
            del self.stats["page_cap"]  # the "cap" was just the number of features
        if self.announced is not None:
            self.stats["features_announced"] = self.announced
            self.stats["announced_by"] = self.announced_by
        self.stats.update(
            pages=pages,
            output_format=self.fmt or "(server default GML)",
            end_detected_by=end,
            pages_retried=self.retried,
        )
        if self.ids_are_positions:
            self.stats["feature_ids"] = "position"
            source_id = self.client.source_id
            log.warning("%s: features carry no (unique) ids; _source_row holds their position", source_id)
        return frames, all_ids, outside

    def _wanted(self, start: int) -> int:
        max_features = self.config.max_features
        return self.page_size if max_features is None else min(self.page_size, max_features - start)

    def _expected(self) -> int | None:
        """How many features the harvest must end with: the announced total, or max_features below it."""
        if self.announced is None:
            return None
        cap = self.config.max_features
        return self.announced if cap is None else min(self.announced, cap)

    def _premature(self, start: int, n: int, want: int) -> bool:
        """A short or empty page before the announced end."""
        expected = self._expected()
        return n < want and expected is not None and start + n < expected

    def _take_total(self, matched: int | None, start: int) -> None:
        """Note the total a page announces; a total that changes while paging means the data changed."""
        if matched is None:
            return
        if self.announced is None:
            self.announced, self.announced_by = matched, "numberMatched"
            return
        if matched != self.announced:
            raise SourceError(
                self.client.source_id,
                f"the WFS at {self.client.safe} announced {self.announced} features of {self.typename} "
                f"({self.announced_by}), then {matched} in the page from {start}: the data changed while "
                "paging, so rows may have been skipped or read twice",
                "retry later (when the layer is not being edited), or set page_size above the number of "
                "features so that one request reads them all",
                retryable=True,
            )

    def _ask_hits(self) -> None:
        """More pages are coming and no page states a total: ask RESULTTYPE=hits (WFS 1.1/2.0). MapServer
        counts hits only up to its wfs_maxfeatures: a count equal to the server's cap is no total."""
        if self.version == "1.0.0" or self.pool is None:
            return
        params = {k: v for k, v in self.params.items() if k not in ("OUTPUTFORMAT", "SORTBY")}
        params["RESULTTYPE"] = "hits"
        try:
            content = self.pool.submit(self.client.get, params, f"GetFeature {self.typename}, hits").result()
            total = parse_hits(content)
        except SourceError as err:
            if err.retryable:
                raise
            log.info("%s: the WFS does not count hits (%s)", self.client.source_id, err.reason)
            return
        except Exception as err:  # an unreadable count costs the check, never the harvest
            log.info("%s: unreadable RESULTTYPE=hits answer (%s)", self.client.source_id, err)
            return
        if total is None:
            return
        if total in self.caps:
            log.info("%s: hits count %d equals the server's cap: not a total", self.client.source_id, total)
            self.stats["hits_ignored"] = total
            return
        self.announced, self.announced_by = total, "RESULTTYPE=hits"

    def _ask_again(self, start: int, want: int, n: int) -> tuple[Page, dict[tuple[int, str], str], Any]:
        """Servers drop pages under load: a short page before the announced end is asked once more."""
        assert self.pool is not None
        self.ahead.clear()
        self.retried += 1
        log.warning(
            "%s: the page of %s from %d held %d of %d features before the announced end (%s): asking again",
            self.client.source_id,
            self.typename,
            start,
            n,
            want,
            self._expected(),
        )
        content = self.pool.submit(self._fetch, start, want).result()
        page, geo_text, outside_rows = self._read(content, start, want)
        self._take_total(page.number_matched, start)
        self.first_try[start] = n
        return page, geo_text, outside_rows

    def _check_complete(self, start: int, n: int, want: int) -> None:
        """Fail unless the features read (`start` + `n`) reach the end the server announced."""
        expected = self._expected()
        got = start + n
        if expected is None or got >= expected:
            return
        first = self.first_try.get(start)
        where = (
            f"the page from {start} held {n} of the {want} features asked"
            + (f" (and {first} at the first try)" if first is not None and first != n else "")
            + (", also when asked again" if start in self.first_try else "")
            if want
            else "paging ended"
        )
        raise SourceError(
            self.client.source_id,
            f"incomplete harvest: the WFS at {self.client.safe} announced {self.announced} features of "
            f"{self.typename} ({self.announced_by}"
            + (f"; max_features {self.config.max_features}" if expected != self.announced else "")
            + f"), expected {expected}, received {got}: {where}",
            "paging does not reach every feature: the server may cap what it serves (its max_features / "
            "maxRecords setting: ask its administrator, or set page_size to the largest page it serves), "
            "page in an unstable order (set sort_by to a unique attribute such as OBJECTID), or have dropped "
            "the page under load (retry later)",
            retryable=first is not None and first != n,  # the server answered differently: it may recover
        )

    def _overshoot(self, got: int) -> None:
        raise SourceError(
            self.client.source_id,
            f"the WFS at {self.client.safe} announced {self.announced} features of {self.typename} "
            f"({self.announced_by}) but served more ({got} so far): its count is not a total",
            "the server may cap its count (MapServer counts hits up to wfs_maxfeatures): set page_size to "
            "the server's cap (or above the number of features); or the data changed while paging: retry",
        )

    def _short_end(self) -> str:
        return {
            "declared": "short page below the declared cap",
            "detected": "short page below the detected cap",
        }.get(self.cap_source or "", "short page below the page size")

    def _fetch(self, start: int, want: int) -> bytes:
        params = dict(self.params, STARTINDEX=start)
        params["COUNT" if self.version == "2.0.0" else "MAXFEATURES"] = want
        return self.client.get(params, f"GetFeature {self.typename} from {start}")

    def _ask_ahead(self, start: int, want: int, n: int, matched: int | None) -> None:
        """Called with the number of features of the page being read (and the total it announces): a full
        page before the announced end means another one."""
        following = self._wanted(start + n)
        total = self.announced if self.announced is not None else matched
        more = total is None or start + n < total or self.confirming
        if n >= want and following > 0 and more and self.pool is not None:
            self.ahead[(start + n, following)] = self.pool.submit(self._fetch, start + n, following)

    def _content(self, start: int, want: int, first: bool) -> bytes | None:
        """The answer for this page (asked ahead, or now); None when SORTBY was refused and dropped."""
        assert self.pool is not None
        try:
            asked = self.ahead.pop((start, want), None) or self.pool.submit(self._fetch, start, want)
            content = asked.result()
        except Refused as refused:
            if not first or "SORTBY" not in self.params:
                raise
            source_id = self.client.source_id
            if not self.config.sort_by:  # the order was our idea (feature_id): page in the server's own
                log.warning("%s: the WFS refused SORTBY (%s): paging unsorted", source_id, refused.reason)
                del self.params["SORTBY"], self.stats["sorted_by"]
                return None
            raise SourceError(
                source_id,
                f"the WFS at {self.client.safe} refused to sort {self.typename} by {self.sort_by!r}: "
                f"{refused.reason}",
                "check that sort_by names an attribute of the feature type (some server backends "
                "cannot sort although the service says it can), or leave sort_by empty",
            ) from None
        self.ahead.clear()
        return content

    def _read(self, content: bytes, start: int, want: int) -> tuple[Page, dict[tuple[int, str], str], Any]:
        """The page's features, their geometries as WGS84 GeoJSON text, the rows outside Wallonia."""
        geoms = Geometries()
        try:
            is_json = content.lstrip()[:1] in (b"{", b"[")
            parse = parse_geojson if is_json else parse_gml
            page = parse(content, geoms, self.default_crs, partial(self._ask_ahead, start, want))
            xy_order = is_json or self.version == "1.0.0"
            geo_text, outside_rows = geoms.to_geojson(xy_order=xy_order, source_id=self.client.source_id)
            if geoms.non_finite:
                self.stats["non_finite_geometries"] = (
                    self.stats.get("non_finite_geometries", 0) + geoms.non_finite
                )
        except SourceError:
            raise
        except Exception as err:
            raise SourceError(
                self.client.source_id,
                f"cannot read the GetFeature answer of {self.client.safe} ({self.typename}, from {start}): "
                f"{type(err).__name__}: {err}",
                "try another output_format, or report the server's answer to its administrator",
            ) from None
        return page, geo_text, outside_rows

    def _identify(self, page: Page, start: int, first: bool) -> None:
        """Give the page's features their ids, and stop when one was already seen (unstable paging)."""
        source_id, n = self.client.source_id, len(page.records)
        if self.config.feature_id and any(i is None for i in page.ids):
            page.ids = _attribute_ids(page, self.config.feature_id, self.typename, source_id)
        ids = pd.Series(page.ids, dtype=object)
        if first and (ids.isna().any() or ids.duplicated().any()):
            self.ids_are_positions = True  # missing or repeated ids cannot identify rows
        if self.ids_are_positions:
            page.ids = list(range(start, start + n))
            return
        again = self.seen.intersection(page.ids) | set(ids[ids.duplicated()])
        if again:
            if len(self.seen.intersection(page.ids)) == n:
                problem = f"ignores STARTINDEX (the page from {start} repeats features already read)"
            else:
                example = sorted(map(str, again))[0]
                problem = f"returned {len(again)} feature id(s) twice (e.g. {example!r})"
            raise SourceError(
                source_id,
                f"the WFS at {self.client.safe} {problem} while paging {self.typename}",
                "paging is not reliable on this server: set page_size above the number of features, "
                "or ask the administrator for a stable order and unique feature ids",
            )
        self.seen.update(page.ids)


def _attribute_ids(page: Page, name: str, typename: str, source_id: str) -> list[Any]:
    """The `feature_id` attribute of the page's features, as their ids."""
    if name not in page.records[0]:
        attributes = ", ".join(k for k in page.records[0] if k != GEOMETRY)
        raise SourceError(
            source_id, f"feature_id {name!r} is not an attribute of {typename}", f"use one of: {attributes}"
        )
    return [record.get(name) for record in page.records]
