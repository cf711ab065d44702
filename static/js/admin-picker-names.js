'use strict';
// A picker in a table of rows (a handover's lines, a meeting's participants, a visit's
// activities) is named after its column: admin.LabelledRowsFormSet gives its <select> an
// aria-label. But the box that has the keyboard's focus is select2's, labelled by the choice
// it shows, so a screen reader said "樟木头镇, combo box" without saying for what. The box is
// labelled by the column's name, then by its choice.
{
    const $ = django.jQuery;

    function nameBoxes(root) {
        $(root).find('select.admin-autocomplete[aria-label]').each(function() {
            const box = $(this).nextAll('.select2').find('.select2-selection').get(0);
            if (!box || !this.id) {
                return;
            }
            const labelId = this.id + '-column';
            if (!document.getElementById(labelId)) {
                const label = document.createElement('span');
                label.id = labelId;
                label.hidden = true;
                label.textContent = this.getAttribute('aria-label');
                this.after(label);
            }
            const shown = (box.getAttribute('aria-labelledby') || '').split(' ').filter(function(id) {
                return id && id !== labelId;
            });
            box.setAttribute('aria-labelledby', [labelId].concat(shown).join(' '));
        });
    }

    // After Django's own autocomplete.js has made the boxes (its handlers come first).
    $(document).ready(function() {
        nameBoxes(document);
    });
    document.addEventListener('formset:added', function(event) {
        nameBoxes(event.target);
    });
}
