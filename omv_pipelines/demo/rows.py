"""The demo's source rows, one row per line as a commune officer would list them (see make_data.py).

Kept apart from the code that writes the files: the tables read best one source row per line, wider
than the project's line length (ruff ignores E501 here, and does not reformat the tables).
"""

import datetime as dt

# fmt: off
# (name, street, house number, building, indoor, public, 24/7, hours, installed) — offsets in metres.
NAMUR = [
    ("DAE Hôtel de Ville", "Rue de Fer", "42", "Hôtel de Ville", 1, "public", "non", "Mo-Fr 08:00-16:30", "2018-03-12", (40, 60)),
    ("DAE Gare de Namur", "Place de la Station", "1", "Gare", 1, "public", "oui", "24/7", "2017-06-01", (-150, 420)),
    ("DAE Piscine de Jambes", "Avenue Prince de Liège", "91", "Piscine", 1, "public", "non", "Mo-Su 07:00-21:00", "2019-09-30", (1450, -600)),
    ("DAE Place d'Armes", "Place d'Armes", "1", None, 0, "public", "oui", "24/7", "2020-01-15", (230, -120)),
    ("DAE Citadelle", "Route Merveilleuse", "8", "Centre du visiteur", 1, "public", "non", "Mo-Su 10:00-18:00", "2021-05-20", (420, -900)),
    ("DAE Hall omnisports", "Rue Saint-Nicolas", "20", "Hall omnisports", 1, "public", "non", "Mo-Fr 09:00-22:00; Sa-Su 08:00-20:00", "2016-11-03", (-700, -250)),
    ("DAE Bibliothèque", "Boulevard Cauchy", "44", "Bibliothèque communale", 1, "public", "non", "Tu-Sa 10:00-18:00", "2022-02-01", (-380, 150)),
    ("DAE Parc Louise-Marie", "Avenue de la Plante", "2", None, 0, "public", "oui", "24/7", "2023-04-18", (600, -1500)),
    ("DAE Administration Erpent", "Chaussée de Marche", "470", "Administration", 1, "prive", "non", "Mo-Fr 08:00-17:00", "2015-08-24", (3400, -2800)),
    ("DAE Théâtre", "Place du Théâtre", "2", "Théâtre royal", 1, "public", "non", "Tu-Su 12:00-23:00", "2019-01-10", (180, 40)),
    ("DAE Rue des Brasseurs", "Rue des Brasseurs", "175", "Maison de quartier", 1, "public", "non", "Mo-Fr 09:00-17:00", "2024-06-03", (320, -60)),
    ("DAE Chaussée de Louvain", "Chaussée de Louvain", "210", "Pharmacie", 1, "prive", "non", "Mo-Sa 08:30-19:00", "2018-10-09", (-900, 1300)),
]

LIEGE = [
    ("DEA Place Saint-Lambert", "Place Saint-Lambert", "18", "Palais provincial", "Oui", "Public", "Non", "Mo-Fr 08:00-18:00", dt.date(2019, 4, 2), (0, 0)),
    ("DEA Gare des Guillemins", "Place des Guillemins", "2", "Gare", "Oui", "Public", "Oui", "24/7", dt.date(2017, 9, 15), (-600, -1900)),
    ("DEA Boverie", "Quai de la Boverie", "3", "Musée de la Boverie", "Oui", "Public", "Non", "Tu-Su 10:00-18:00", dt.date(2020, 7, 1), (900, -1700)),
    ("DEA Féronstrée", "Rue Féronstrée", "136", "Grand Curtius", "Oui", "Public", "Non", "We-Mo 10:00-18:00", dt.date(2018, 1, 22), (650, 250)),
    ("DEA Place du Marché", "Place du Marché", "2", "Hôtel de Ville", "oui", "public", "non", "Mo-Fr 08:30-16:30", dt.date(2016, 5, 9), (300, 40)),
    ("DEA Boulevard d'Avroy", "Boulevard d'Avroy", "1", None, "Non", "Public", "Oui", "24/7", dt.date(2021, 3, 30), (-700, -600)),
    ("DEA Piscine de Jonfosse", "Rue Grétry", "50", "Piscine", "Oui", "Public", "Non", "Mo-Su 08:00-20:00", dt.date(2022, 11, 14), (600, -1200)),
    ("DEA Rue Léopold", "Rue Léopold", "4", "Commerce", "Oui", "Privé", "Non", "Mo-Sa 09:30-18:30", dt.date(2023, 2, 6), (200, -80)),
    ("DEA Sauvenière", "Boulevard de la Sauvenière", "130", "Cinéma", "Oui", "Public", "Non", "Mo-Su 13:00-23:30", dt.date(2019, 12, 2), (-350, -200)),
    # Defects, on purpose: the demo shows how a commune is told what to fix.
    ("", "Rue Saint-Gilles", "64", "Salle de quartier", "Oui", "Public", "Non", "Mo-Fr 09:00-17:00", dt.date(2020, 9, 1), (-900, -300)),
    ("DEA Fragnée", "Rue de Fragnée", "11", None, "Non", "Publique", "Oui", "24/7", "31/02/2021", (-300, -2400)),
]

MONS = [
    ("DAE Grand-Place", "Grand-Place", "22", "Hôtel de Ville", "true", "Public", "N", "Mo-Fr 08:00-16:00", "14/02/2018", (0, 0)),
    ("DAE Gare de Mons", "Place Léopold", "1", "Gare", "true", "Public", "Y", "24/7", "01/06/2019", (-650, -280)),
    ("DAE Mons Arena", "Avenue Thomas Edison", "2", "Mons Arena", "true", "Public", "N", "Mo-Su 09:00-23:00", "20/10/2017", (-1900, 900)),
    ("DAE Rue de Nimy", "Rue de Nimy", "53", "Université", "true", "Public", "N", "Mo-Fr 08:00-20:00", "03/09/2020", (250, 380)),
    ("DAE Parc du Waux-Hall", "Avenue Reine Astrid", "1", None, "false", "Public", "Y", "24/7", "11/05/2021", (500, -900)),
    ("DAE Piscine du Grand Large", "Chemin du Grand Large", "1", "Piscine", "true", "Public", "N", "Mo-Su 07:30-21:00", "28/03/2016", (-600, 2000)),
    ("DAE Beffroi", "Rue des Gades", "1", "Beffroi", "true", "Public", "N", "Tu-Su 10:00-18:00", "15/07/2019", (-100, -150)),
    ("DAE Rue d'Havré", "Rue d'Havré", "97", "Maison de repos", "true", "Privé", "N", "Mo-Su 08:00-20:00", "07/12/2022", (520, -60)),
    ("DAE Boulevard Dolez", "Boulevard Dolez", "31", "Centre sportif", "true", "Public", "N", "Mo-Fr 09:00-22:00", "22/04/2023", (-500, -700)),
    ("DAE Place du Parc", "Place du Parc", "1", None, "false", "Public", "Y", "24/7", "30/08/2024", (-280, 450)),
]

# Namur, bike racks: (name, street, house number, support, covered, secured, places, year, charging, offset)
NAMUR_VELOS = [
    ("Arceaux gare - quai 1", "Place de la Station", "1", "arceau", 1, 0, 20, 2019, "non", (-140, 400)),
    ("Box vélos gare", "Place de la Station", "1", "box", 1, 1, 12, 2021, "oui", (-170, 430)),
    ("Arceaux Hôtel de Ville", "Rue de Fer", "42", "arceau", 0, 0, 8, 2018, "non", (40, 70)),
    ("Arceaux Place d'Armes", "Place d'Armes", "1", "arceau", 0, 0, 10, 2020, "non", (230, -110)),
    ("Rack Université", "Rue de Bruxelles", "61", "rack", 1, 0, 30, 2017, "non", (-250, 260)),
    ("Arceaux Rue de l'Ange", "Rue de l'Ange", "20", "arceau", 0, 0, 6, 2022, "non", (120, 30)),
    ("Arceaux Place Maurice Servais", "Place Maurice Servais", "2", "Arceau", 0, 0, 8, 2023, "non", (330, -40)),
    ("Abri vélos Jambes", "Avenue Jean Materne", "168", "Autre", 1, 1, 16, 2024, "oui", (1600, -800)),
]

# Namur, participatory processes (CSV as exported by the participation service; ';' and decimal commas).
NAMUR_PROCESSUS = [
    ("BP2024", "Budget participatif 2024", "Les Namurois proposent et votent des projets de quartier.", "Budget participatif",
     "cloture", "15/01/2024", "30/11/2024", "https://www.namur.be/fr/budget-participatif-2024", "250.000,00", "1843", "Quartiers"),
    ("BP2025", "Budget participatif 2025", "Deuxième édition, ouverte aux associations de fait.", "budget participatif",
     "en cours", "03/02/2025", "28/11/2025", "https://www.namur.be/fr/budget-participatif-2025", "300.000,00", "", "Quartiers"),
    ("PCM", "Consultation sur le plan communal de mobilité", "Questionnaire en ligne et ateliers par quartier.", "Consultation",
     "cloture", "01/03/2023", "30/04/2023", "https://www.namur.be/fr/mobilite/pcm", "", "2411", "Mobilité"),
    ("EP-STATION", "Enquête publique - réaménagement de la place de la Station", "Permis d'urbanisme, dossier consultable au service Urbanisme.",
     "Enquete publique", "cloture", "04/09/2023", "03/10/2023", "", "", "", "Urbanisme"),
    ("PANEL-CLIMAT", "Panel citoyen climat", "Trente habitants tirés au sort formulent des recommandations.", "panel citoyen",
     "a venir", "06/10/2025", "", "https://www.namur.be/fr/climat/panel", "15.000,00", "30", "Climat"),
]

# Namur, participatory budget projects: (ref, process, title, amount, votes, status, category, street, number, offset)
NAMUR_PROJETS = [
    ("P01", "92094-BP2024", "Boîte à livres au parc Louise-Marie", 3500, 412, "realise", "Culture", "Avenue de la Plante", None, (600, -1450)),
    ("P02", "92094-BP2024", "Potager collectif à Bomel", 12000, 388, "réalisé", "Environnement", "Rue d'Enhaive", "4", (-500, 900)),
    ("P03", "92094-BP2024", "Bancs et ombrage place du Théâtre", 18500, 297, "laureat", "Cadre de vie", "Place du Théâtre", None, (180, 50)),
    ("P04", "92094-BP2024", "Fresque participative sous le pont de Jambes", 9000, 141, "soumis au vote", "Culture", "Boulevard de la Meuse", None, (900, -300)),
    ("P05", "92094-BP2025", "Nichoirs et hôtels à insectes à Salzinnes", 2500, None, "recevable", "Environnement", "Rue Patenier", None, (-900, -400)),
    ("P06", "92094-BP2025", "Éclairage du sentier des écoliers", 40000, None, "Non recevable", "Mobilité", "Rue Saint-Nicolas", None, (-700, -230)),
    ("P07", "92094-BP2025", "Fontaine à eau au parc Astrid", 7500, None, "deposé", "Cadre de vie", "Avenue Albert Ier", None, (-1200, 700)),
]

# Liège, PMR spaces (WFS, Lambert 2008): (street, number, places, length, width, modalities, offset)
LIEGE_PMR = [
    ("Rue de la Régence", "41", 2, 6.0, 3.5, "Carte de stationnement pour personnes handicapées", (250, -280)),
    ("Rue Pont d'Avroy", "1", 1, 6.0, 3.3, "Carte de stationnement pour personnes handicapées", (-180, -330)),
    ("Place de la Cathédrale", "4", 2, 5.5, 3.5, "Carte de stationnement pour personnes handicapées", (-60, -380)),
    ("Rue Hors-Château", "70", 1, 6.0, 3.3, "Carte de stationnement ; durée limitée à 4 heures", (700, 300)),
    ("Quai Roosevelt", "1", 3, 6.0, 3.5, "Carte de stationnement pour personnes handicapées", (650, -700)),
    ("Place des Guillemins", "2", 4, 6.0, 3.5, "Carte de stationnement pour personnes handicapées", (-620, -1880)),
    ("Rue Léopold", "12", 1, 5.0, 3.3, "Carte de stationnement pour personnes handicapées", (220, -60)),
]

LIEGE_EQUIPEMENTS = [
    # (id, name, type, street, street code, number, offset, pmr, hours, status, installed, maintained, paying, note)
    ("EQ-001", "Fontaine du Perron", "Point d'eau potable", "Place du Marché", "8620101", None, (310, 50), "oui", None, "Disponible", "12/05/2019", "03/03/2025", "non", ""),
    ("EQ-002", "Toilettes Saint-Lambert", "Toilette publique", "Place Saint-Lambert", "8620102", "18", (20, -30), "oui", "Mo-Su 07:00-21:00", "Disponible", "01/07/2020", "10/02/2025", "oui", "nettoyage quotidien"),
    ("EQ-003", "Bulle à verre Hors-Château", "Bulle à verre", "Rue Hors-Château", "8620103", "92", (760, 330), "non", None, "Disponible", "20/03/2018", "", "non", ""),  # lat/lon swapped
    ("EQ-004", "Plaine de jeux du parc d'Avroy", "Plaine de jeux", "Boulevard d'Avroy", "8620104", None, (-700, -650), "oui", "Mo-Su 08:00-20:00", "Disponible", "15/04/2016", "22/01/2025", "non", ""),
    ("EQ-005", "Banc de la Boverie", "Banc public", "Quai de la Boverie", "8620105", None, (880, -1650), "oui", None, "Disponible", "31/06/2022", "", "non", ""),  # no 31 June
    ("EQ-006", "Canisite Laveu", "", "Rue du Laveu", "8620106", None, (-900, -1500), "non", None, "Disponible", "02/09/2021", "", "non", "type à compléter"),  # type missing
    ("EQ-007", "Boîte à livres Saint-Léonard", "Boite à livres", "", "8620107", None, (1400, 900), "oui", None, "Disponible", "05/10/2023", "", "non", ""),  # street missing
    ("EQ-008", "Cendrier Féronstrée", "Cendrier", "Rue Féronstrée", "8620108", "90", (600, 240), "non", None, "Disponible", "14/02/2024", "", "non", ""),
    ("EQ-008", "Poubelle Féronstrée", "Poubelle publique", "Rue Féronstrée", "8620108", "92", (610, 245), "non", None, "Disponible", "14/02/2024", "", "non", "copie de la ligne précédente ?"),  # same id
    ("EQ-009", "Bac à sel Montagne de Bueren", "Bac à sel", "Montagne de Bueren", "8620109", None, (420, 420), "non", None, "hors service", "18/11/2020", "bientôt", "non", ""),  # two defects
    ("EQ-010", "Jardin partagé des Coteaux", "jardin partage", "Rue Pierreuse", "8620110", "30", (-100, 600), "non", "Sa 10:00-16:00", "non disponible", "07/05/2022", "01/04/2025", "non", ""),
    ("EQ-011", "Terrain multisport Sainte-Walburge", "Equipement sportif", "Rue Sainte-Walburge", "8620111", None, (-300, 1900), "oui", "Mo-Su 09:00-21:00", "Disponible", "30/08/2021", "", "non", ""),
]

# Mons, roadworks (WFS lines, Lambert 72): (id, name, street, street code, type, state, year, start, end,
# owner, contractor, traffic, budget, line offsets in metres)
MONS_TRAVAUX = [
    ("TR-2025-01", "Réfection du revêtement rue de Nimy", "Rue de Nimy", "5300101", "Réfection de voiries", "en cours", 2025,
     "03/03/2025", "27/06/2025", "Ville de Mons", "Colas Belgium", "Circulation alternée", 420000, [(250, 380), (330, 520), (400, 660)]),
    ("TR-2025-02", "Remplacement de conduites d'eau boulevard Dolez", "Boulevard Dolez", "5300102", "Impétrant", "planifie", 2025,
     "01/09/2025", "19/12/2025", "SWDE", "Tradecowall", "Réduction du nombre de bandes", 610000, [(-500, -700), (-560, -520), (-610, -330)]),
    ("TR-2024-07", "Aménagement cyclable avenue Reine Astrid", "Avenue Reine Astrid", "5300103", "Aménagement de voiries", "realise", 2024,
     "15/04/2024", "30/09/2024", "Ville de Mons", "BAM Galère", "Sens unique limité", 880000, [(450, -850), (560, -980), (680, -1100)]),
    ("TR-2025-03", "Raccordements gaz rue d'Havré", "Rue d'Havré", "5300104", "Impétrant", "Planifié", 2025,
     "06/10/2025", "31/10/2025", "ORES", "Sodraep", "Voie fermée", None, [(520, -60), (640, -90)]),
    ("TR-2025-04", "Création d'un parvis chaussée de Binche", "Chaussée de Binche", "5300105", "Création de voiries", "planifie", 2026,
     "02/03/2026", "30/10/2026", "Ville de Mons", None, "Pas de modification", 1250000, [(-900, -1200), (-1000, -1300)]),
]

# Mons, participatory processes (xlsx with date cells) and the projects of its budget (ods).
MONS_PROCESSUS = [
    ("BP-2025", "Budget participatif « Mons en projets » 2025", "Appel à projets citoyens dans les 19 villages et quartiers.",
     "Budget participatif", "En cours", dt.date(2025, 1, 20), dt.date(2025, 12, 15), "https://www.mons.be/budget-participatif", 200000, None),
    ("CONS-GRAND-PLACE", "Consultation sur la piétonnisation de la Grand-Place", "Avis des riverains et commerçants.",
     "Consultation", "Clôturé", dt.date(2024, 5, 6), dt.date(2024, 6, 30), "https://www.mons.be/consultation-grand-place", None, 1276),
    ("PETITION-PARC", "Pétition pour un parc au bord du Grand Large", "Pétition déposée au conseil communal.",
     "Pétition", "Clôturé", dt.date(2024, 9, 1), dt.date(2024, 11, 30), None, None, 612),
]

MONS_PROJETS = [
    ("MP-01", "Verger communautaire à Jemappes", 15000, 530, "Lauréat", "Environnement", "Rue Ferrer", (-3500, 600)),
    ("MP-02", "Skatepark de quartier à Cuesmes", 45000, 488, "lauréat", "Sport", "Rue de l'Agrappe", (-1500, -2600)),
    ("MP-03", "Bancs connectés Grand-Place", 8000, 102, "Soumis au vote", "Cadre de vie", "Grand-Place", (0, 10)),
    ("MP-04", "Ruches urbaines au parc du Waux-Hall", 4000, None, "Recevable", "Environnement", "Avenue Reine Astrid", (520, -920)),
    ("MP-05", "Fête des voisins à Havré", 2000, None, "Déposé", "Convivialité", "Rue du Château", (6000, 800)),
]
